"""OTLP/HTTP answers as the spec says, limits hold, and bad clients cannot hurt the receiver.

Each test talks to a real ``otelytics serve`` subprocess over loopback and, where data was
accepted, reads the dataset back after SIGTERM: nothing acknowledged is lost.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time

import duckdb
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.receiver._payloads import trace_request

PB = "application/x-protobuf"


def post(server, path: str, body: bytes, ctype: str = PB, headers: dict | None = None,
         method: str = "POST") -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype, **(headers or {})})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def seqs(server) -> list[int]:
    return [r[0] for r in duckdb.connect().execute(
        f"select cast(attributes['seq'] as bigint) from read_parquet("
        f"'{server.data_dir}/spans/*/*.parquet') order by 1").fetchall()]


def status_of(body: bytes) -> status_pb2.Status:
    return status_pb2.Status.FromString(body)


def test_status_codes_for_bad_requests(serve):
    server = serve("--max-request-bytes", "100000")
    ok = trace_request(0, 10)
    assert post(server, "/v1/traces", ok)[0] == 200
    assert post(server, "/v1/nope", ok)[0] == 404
    status, headers, _ = post(server, "/v1/traces", b"", method="GET")
    assert status == 405 and headers["Allow"] == "POST"
    assert post(server, "/v1/traces", ok, method="PUT")[0] == 405
    status, _, body = post(server, "/v1/traces", ok, ctype="text/plain")
    assert status == 415 and status_of(body).code == code_pb2.INVALID_ARGUMENT
    assert post(server, "/v1/traces", ok, headers={"Content-Encoding": "br"})[0] == 415
    # truncated protobuf: a valid request cut in the middle of a span
    status, _, body = post(server, "/v1/traces", ok[: len(ok) // 2 + 3])
    assert status == 400 and "cannot decode" in status_of(body).message
    # corrupt gzip
    assert post(server, "/v1/traces", b"\x1f\x8bnot gzip",
                headers={"Content-Encoding": "gzip"})[0] == 400
    # truncated gzip stream
    assert post(server, "/v1/traces", gzip.compress(ok)[:-12],
                headers={"Content-Encoding": "gzip"})[0] == 400
    # oversized on the wire: refused from Content-Length without reading the body
    status, _, body = post(server, "/v1/traces", b"\0" * 200_000)
    assert status == 413 and "exceeds" in status_of(body).message
    # gzip bomb: 50 MB of zeros in ~50 KB; refused after decompressing only limit+1 bytes
    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    assert post(server, "/v1/traces", bomb, headers={"Content-Encoding": "gzip"})[0] == 413
    # gzip that fits is accepted
    assert post(server, "/v1/traces", gzip.compress(trace_request(10, 5)),
                headers={"Content-Encoding": "gzip"})[0] == 200
    health = post(server, "/health", b"", method="GET")
    assert health[0] == 200 and json.loads(health[2])["status"] == "ok"
    stats = json.loads(post(server, "/metrics", b"", method="GET")[2])["metrics"]
    assert stats["otelytics.receiver.items.spooled"]["spans"] == 15
    assert stats["otelytics.receiver.requests.refused"]["spans"] >= 6
    assert server.terminate() == 0
    assert seqs(server) == list(range(15))


def test_partial_success_for_invalid_ids(serve):
    server = serve()
    req = ExportTraceServiceRequest.FromString(trace_request(0, 4))
    spans = req.resource_spans[0].scope_spans[0].spans
    spans[1].trace_id = b"\x01\x02\x03"  # wrong length
    spans[2].span_id = b"\0" * 8  # all-zero id
    status, headers, body = post(server, "/v1/traces", req.SerializeToString())
    assert status == 200 and headers["Content-Type"] == PB
    ps = ExportTraceServiceResponse.FromString(body).partial_success
    assert ps.rejected_spans == 2 and "invalid" in ps.error_message
    # a fully valid request leaves partial_success unset
    status, _, body = post(server, "/v1/traces", trace_request(10, 2))
    assert status == 200 and not ExportTraceServiceResponse.FromString(body).HasField(
        "partial_success")
    assert server.terminate() == 0
    assert seqs(server) == [0, 3, 10, 11]


def test_otlp_json_with_hex_ids(serve):
    server = serve()
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
        "scopeSpans": [{"scope": {"name": "json-client"}, "spans": [
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "parentSpanId": "eee19b7ec3c1b173", "name": "GET /", "kind": 2,
             "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
             "attributes": [{"key": "seq", "value": {"intValue": "1"}},
                            {"key": "http.status_code", "value": {"intValue": 200}}],
             "status": {"code": 2, "message": "bad"}, "unknownField": {"x": 1},
             "links": [{"traceId": "5b8efff798038103d269b633813fc60d",
                        "spanId": "eee19b7ec3c1b175"}]},
            {"traceId": "not-hex", "spanId": "eee19b7ec3c1b176", "name": "broken"},
        ]}]}]}
    status, headers, body = post(server, "/v1/traces", json.dumps(doc).encode(),
                                 ctype="application/json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"partialSuccess": {
        "rejectedSpans": "1", "errorMessage": json.loads(body)["partialSuccess"]["errorMessage"]}}
    status, headers, body = post(server, "/v1/traces", b"{not json", ctype="application/json")
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == code_pb2.INVALID_ARGUMENT
    assert post(server, "/v1/traces", b'{"resourceSpans": 5}', ctype="application/json")[0] == 400
    assert server.terminate() == 0
    row = duckdb.connect().execute(f"""
        select trace_id, span_id, parent_span_id, kind, status_code, status_message,
               epoch_us(start_time), attributes, links[1].trace_id, service_name
        from read_parquet('{server.data_dir}/spans/*/*.parquet')""").fetchall()
    assert row == [("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173",
                    "SERVER", "ERROR", "bad", 1544712660000000,
                    {"seq": "1", "http.status_code": "200"},
                    "5b8efff798038103d269b633813fc60d", "js")]


def test_bearer_token(serve, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    server = serve("--token-file", str(token_file))
    body = trace_request(0, 3)
    status, headers, resp = post(server, "/v1/traces", body)
    assert status == 401 and status_of(resp).code == code_pb2.UNAUTHENTICATED
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert post(server, "/v1/traces", body, headers={"Authorization": "Bearer wrong"})[0] == 401
    assert post(server, "/metrics", b"", method="GET")[0] == 401
    assert post(server, "/v1/traces", body, headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert server.terminate() == 0
    assert seqs(server) == [0, 1, 2]


def test_slow_and_truncating_clients_do_not_block_others(serve):
    server = serve("--read-timeout", "1", "--max-concurrent-requests", "2")
    body = trace_request(0, 5)
    head = (f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PB}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    # a slow client holds one request slot: sends the headers and a few bytes, then stalls
    slow = socket.create_connection(("127.0.0.1", server.http_port))
    slow.sendall(head + body[:10])
    # an idle connection that never sends anything
    idle = socket.create_connection(("127.0.0.1", server.http_port))
    # meanwhile a normal client is served
    assert post(server, "/v1/traces", trace_request(100, 2))[0] == 200
    # the slow one is cut off after the read timeout with 408
    slow.settimeout(10)
    t0 = time.monotonic()
    answer = slow.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 9
    assert idle.recv(10) == b""  # closed by the server after the timeout
    slow.close()
    idle.close()
    # a client that announces more than it sends and closes its side: no answer, no harm
    trunc = socket.create_connection(("127.0.0.1", server.http_port))
    trunc.sendall(head + body[:20])
    trunc.shutdown(socket.SHUT_WR)
    trunc.settimeout(10)
    assert trunc.recv(100) == b""
    trunc.close()
    assert post(server, "/v1/traces", body)[0] == 200
    assert server.terminate() == 0
    assert seqs(server) == [0, 1, 2, 3, 4, 100, 101]


def test_concurrency_limit_answers_429_with_retry_after(serve):
    server = serve("--read-timeout", "5", "--max-concurrent-requests", "1")
    body = trace_request(0, 5)
    head = (f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PB}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    holder = socket.create_connection(("127.0.0.1", server.http_port))
    holder.sendall(head + body[:10])  # holds the only slot while its body trickles in
    time.sleep(0.3)
    status, headers, resp = post(server, "/v1/traces", trace_request(50, 1))
    assert status == 429 and headers["Retry-After"] == "1"
    assert status_of(resp).code == code_pb2.RESOURCE_EXHAUSTED
    holder.sendall(body[10:])  # completes: accepted
    holder.settimeout(10)
    assert holder.recv(65536).startswith(b"HTTP/1.1 200")
    holder.close()
    assert server.terminate() == 0
    assert seqs(server) == [0, 1, 2, 3, 4]


def test_backlog_cap_answers_503_with_retry_after(serve):
    # segments are published only every 60 s, so the backlog only grows during the test
    server = serve("--max-backlog-bytes", "3000", "--segment-seconds", "60")
    accepted, refused = [], 0
    for i in range(10):
        status, headers, resp = post(server, "/v1/traces", trace_request(i * 5, 5))
        if status == 200:
            accepted.extend(range(i * 5, i * 5 + 5))
        else:
            assert status == 503 and int(headers["Retry-After"]) > 0
            assert status_of(resp).code == code_pb2.UNAVAILABLE
            refused += 1
    assert accepted and refused
    stats = json.loads(post(server, "/metrics", b"", method="GET")[2])["metrics"]
    assert stats["otelytics.receiver.spool.backlog"] <= 3000
    assert server.terminate() == 0
    assert seqs(server) == accepted


def test_json_requests_obey_the_backlog_cap_too(serve):
    server = serve("--max-backlog-bytes", "1500", "--segment-seconds", "60")
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "x" * 300,
         "attributes": [{"key": "seq", "value": {"intValue": str(i)}}]}
        for i in range(3)]}]}]}
    body = json.dumps(doc).encode()
    first = post(server, "/v1/traces", body, ctype="application/json")
    assert first[0] == 200  # an empty backlog admits one request
    status, headers, resp = post(server, "/v1/traces", body, ctype="application/json")
    assert status == 503 and headers["Content-Type"] == "application/json"
    assert int(headers["Retry-After"]) > 0 and json.loads(resp)["code"] == code_pb2.UNAVAILABLE
    assert server.terminate() == 0
    assert seqs(server) == [0, 1, 2]


def _chunked(server, body_chunks, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    try:
        conn.request("POST", "/v1/traces", body=iter(body_chunks), encode_chunked=True,
                     headers={"Content-Type": PB, "Transfer-Encoding": "chunked",
                              **(headers or {})})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _raw(server, head: str, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.http_port)) as s:
        s.sendall(head.encode() + payload)
        s.settimeout(10)
        return s.recv(65536)


def test_chunked_bodies_accepted_limited_and_checked(serve):
    server = serve("--max-request-bytes", "100000")
    body = trace_request(0, 6)
    pieces = [body[i:i + 97] for i in range(0, len(body), 97)]  # many small chunks
    status, resp = _chunked(server, pieces)
    assert status == 200 and ExportTraceServiceResponse.FromString(resp).partial_success \
        .rejected_spans == 0
    zipped = gzip.compress(trace_request(6, 2))
    assert _chunked(server, [zipped[:10], zipped[10:]],
                    headers={"Content-Encoding": "gzip"})[0] == 200
    # over the limit: refused once the chunks pass it, not after reading everything
    status, resp = _chunked(server, [b"\0" * 60_000, b"\0" * 60_000])
    assert status == 413 and "limit" in status_of(resp).message
    head = f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PB}\r\n"
    # trailer fields after the last chunk are read and ignored
    tail = trace_request(8, 1)
    answer = _raw(server, head + "Transfer-Encoding: chunked\r\n\r\n",
                  f"{len(tail):x};ext=1\r\n".encode() + tail + b"\r\n0\r\nX-Sum: 1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    # malformed framing: a size that is not hex, data longer than its size
    assert _raw(server, head + "Transfer-Encoding: chunked\r\n\r\n",
                b"zz\r\nabc\r\n0\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _raw(server, head + "Transfer-Encoding: chunked\r\n\r\n",
                b"2\r\nabcdef\r\n0\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _raw(server, head + "Transfer-Encoding: gzip\r\n\r\n", b"").startswith(
        b"HTTP/1.1 501")
    assert _raw(server, head + "\r\n", b"").startswith(b"HTTP/1.1 411")
    assert server.terminate() == 0
    assert seqs(server) == list(range(9))
