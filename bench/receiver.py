"""Sustained OTLP ingest of ``otelytics serve`` against the cost of only decoding the protobuf.

A client process POSTs one pre-encoded 512-span ExportTraceServiceRequest over loopback from
several keep-alive connections for a fixed time; the receiver runs as its own process (spool
fsync, conversion, Parquet publish, all included). Its CPU time (``wait4`` rusage at exit minus
what it had used when the load began, so start-up imports do not count, shutdown publishing
does) divided by the spans it acknowledged is the end-to-end cost per span; the baseline is
``ExportTraceServiceRequest.FromString`` of the same bytes in this process. Also reported: peak
RSS of the receiver, and an in-process split of where the per-span time goes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

SPANS = 512
SECONDS = float(os.environ.get("BENCH_RECEIVER_SECONDS", "20"))
CONNECTIONS = 4
BACKLOG = 64 << 20  # small, so back-pressure (503) sets in and the rate is the sustained one

_CLIENT = r"""
import http.client, sys, threading, time
port, seconds, conns, path = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = open(path, "rb").read()
ok = [0] * conns
others = [0] * conns
end = time.monotonic() + seconds
def run(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < end:
        c.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        r = c.getresponse(); r.read()
        if r.status == 200: ok[i] += 1
        else: others[i] += 1; time.sleep(0.05)
ts = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
t0 = time.monotonic()
[t.start() for t in ts]; [t.join() for t in ts]
print(sum(ok), sum(others), time.monotonic() - t0)
"""


def request_bytes(n: int = SPANS) -> bytes:
    """A realistic request: 512 spans, 3 traces, 8 attributes each, an event on every 8th."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (("service.name", "checkout"), ("service.version", "1.4.2"),
                 ("host.name", "web-7"), ("telemetry.sdk.language", "python")):
        rs.resource.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "opentelemetry.instrumentation.flask", "0.66b2"
    now = time.time_ns()
    for i in range(n):
        s = ss.spans.add(trace_id=(i // 171 + 1).to_bytes(16, "big"),
                         span_id=(i + 1).to_bytes(8, "big"),
                         parent_span_id=(i or 1).to_bytes(8, "big") if i % 171 else b"",
                         name=f"GET /api/items/{{id}} {i % 9}", kind=Span.SPAN_KIND_SERVER,
                         start_time_unix_nano=now + i * 1000,
                         end_time_unix_nano=now + i * 1000 + 2_500_000)
        for k, v in (("http.request.method", AnyValue(string_value="GET")),
                     ("http.route", AnyValue(string_value="/api/items/{id}")),
                     ("http.response.status_code", AnyValue(int_value=200)),
                     ("url.path", AnyValue(string_value=f"/api/items/{i}")),
                     ("server.address", AnyValue(string_value="shop.example")),
                     ("server.port", AnyValue(int_value=443)),
                     ("user_agent.original", AnyValue(string_value="curl/8.5")),
                     ("gen_ai.request.model", AnyValue(string_value="gpt-4o"))):
            s.attributes.append(KeyValue(key=k, value=v))
        if i % 8 == 0:
            ev = s.events.add(time_unix_nano=now + i * 1000 + 5, name="cache.miss")
            ev.attributes.append(KeyValue(key="key", value=AnyValue(string_value=f"k{i}")))
    return req.SerializeToString()


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_call(fn, calls: int) -> float:
    """CPU seconds per call (process time: other jobs on the shared VM do not count)."""
    fn()
    t0 = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - t0) / calls


def _split(body: bytes) -> dict[str, float]:
    """In-process CPU microseconds per span of each stage, for the 'where time goes' table."""
    from otelytics.exporter.receiver.decode import to_tables, validate
    from otelytics.exporter.receiver.spool import Spool
    from otelytics.exporter.writer import write_file

    req = ExportTraceServiceRequest.FromString(body)
    out = {
        "decode": _cpu_per_call(lambda: ExportTraceServiceRequest.FromString(body), 300),
        "validate": _cpu_per_call(lambda: validate("spans", req), 30),
        "to_arrow": _cpu_per_call(lambda: to_tables("spans", [req]), 30),
    }
    ((day, table),) = to_tables("spans", [req] * 16).items()
    with tempfile.TemporaryDirectory() as d:
        out["parquet_write"] = _cpu_per_call(
            lambda: write_file(d, "spans", table, day=day), 3) / 16
        spool = Spool(Path(d) / "spool", on_sealed=lambda s: None)
        spool.start()
        out["spool_append_fsync"] = _cpu_per_call(lambda: spool.append(0, body, None), 30)
        spool.close()
    return {k: v / SPANS * 1e6 for k, v in out.items()}


def run() -> dict:
    body = request_bytes()
    decode_s = _cpu_per_call(lambda: ExportTraceServiceRequest.FromString(body), 500)
    out = {"spans_per_request": SPANS, "request_bytes": len(body),
           "decode_only_us_per_span": round(decode_s / SPANS * 1e6, 3),
           "split_cpu_us_per_span": {k: round(v, 3) for k, v in _split(body).items()}}
    for converters in (1, 2):
        out[f"converters={converters}"] = _load(body, decode_s, converters)
    return out


def _load(body: bytes, decode_s: float, converters: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "req.bin"
        payload.write_bytes(body)
        ready = Path(tmp) / "ready.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "otelytics.analysis.cli", "serve", "--data-dir",
             f"{tmp}/data", "--http-port", "0", "--grpc-port", "-1", "--ready-file",
             str(ready), "--converters", str(converters), "--max-backlog-bytes",
             str(BACKLOG), "--shutdown-timeout", "900",
             *os.environ.get("BENCH_RECEIVER_ARGS", "").split()], stderr=subprocess.DEVNULL)
        while not ready.exists():
            time.sleep(0.05)
        port = json.loads(ready.read_text())["http_port"]
        cpu0 = _cpu_of(proc.pid)
        client = subprocess.run([sys.executable, "-c", _CLIENT, str(port), str(SECONDS),
                                 str(CONNECTIONS), str(payload)],
                                capture_output=True, text=True, check=True)
        ok, refused, wall = client.stdout.split()
        t_stop = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
        drain_s = time.monotonic() - t_stop
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime - cpu0
        import duckdb

        rows = duckdb.connect().execute(
            f"select count(*) from read_parquet('{tmp}/data/spans/*/*.parquet')").fetchone()[0]
    spans = int(ok) * SPANS
    per_span = cpu / rows  # every acknowledged span is published before the receiver exits
    return {
        "seconds": float(wall),
        "spans_acknowledged": spans,
        "rows_in_dataset": rows,
        "requests_refused": int(refused),
        "sustained_acknowledged_spans_per_s": round(spans / float(wall)),
        "published_spans_per_s_incl_drain": round(rows / (float(wall) + drain_s)),
        "receiver_cpu_us_per_span": round(per_span * 1e6, 2),
        "ratio_end_to_end_vs_decode": round(per_span / (decode_s / SPANS), 1),
        "receiver_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "shutdown_drain_s": round(drain_s, 2),
        "exit_code": proc.returncode,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
