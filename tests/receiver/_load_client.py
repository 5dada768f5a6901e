"""Run in a separate process: POST numbered span requests from several threads until told to
stop or the server goes away; every request answered 200 is appended to OUT (one line per
acknowledged request: ``first_seq count``), flushed at once, so a reader sees every ack.

``python _load_client.py PORT OUT THREADS REQUESTS_PER_THREAD SPANS_PER_REQUEST``
"""

from __future__ import annotations

import http.client
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.receiver._payloads import trace_request

port, out = int(sys.argv[1]), sys.argv[2]
threads, per_thread, n = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND)


def worker(t: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(per_thread):
        first = (t * per_thread + i) * n
        body = trace_request(first, n)
        try:
            conn.request("POST", "/v1/traces", body,
                         {"Content-Type": "application/x-protobuf"})
            r = conn.getresponse()
            r.read()
        except (OSError, http.client.HTTPException):
            return  # server gone: this request is not acknowledged
        if r.status == 200:
            with lock:
                os.write(fd, f"{first} {n}\n".encode())


ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for th in ts:
    th.start()
for th in ts:
    th.join()
