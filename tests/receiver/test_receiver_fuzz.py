"""Hypothesis throws random and mutated bodies at a live receiver.

Every answer must be 200 (the bytes happened to be a valid request) or 400; never a 5xx, a
hang or a crash. Whatever was accepted must convert and publish (no segment quarantined, exit
0 at SIGTERM), and the numbered spans acknowledged before and after the storm are all there.
"""

from __future__ import annotations

import gzip
import json

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.receiver._payloads import trace_request
from tests.receiver.test_receiver_http import post

VALID = trace_request(1_000_000, 3, attrs=3)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "name",
                         "attributes", "key", "value", "kind", "links"]), inner, max_size=4),
    max_leaves=12)


def test_fuzzed_bodies_get_200_or_400_and_accepted_data_survives(serve):
    server = serve("--segment-seconds", "0.2")
    assert post(server, "/v1/traces", trace_request(0, 20))[0] == 200
    statuses: dict[int, int] = {}

    def check(path: str, body: bytes, ctype: str = "application/x-protobuf",
              headers: dict | None = None) -> None:
        status, _, resp = post(server, path, body, ctype, headers)
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400), (status, body[:64])
        if status == 200 and ctype.endswith("protobuf") and path == "/v1/traces":
            ExportTraceServiceResponse.FromString(resp)

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=st.binary(max_size=512),
           path=st.sampled_from(["/v1/traces", "/v1/metrics", "/v1/logs"]))
    def random_bytes(body: bytes, path: str) -> None:
        check(path, body)

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=mutated(), gz=st.booleans())
    def mutated_requests(body: bytes, gz: bool) -> None:
        if gz:
            check("/v1/traces", gzip.compress(body), headers={"Content-Encoding": "gzip"})
        else:
            check("/v1/traces", body)

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(doc=_json_values)
    def json_documents(doc) -> None:
        check("/v1/traces", json.dumps(doc).encode(), "application/json")

    random_bytes()
    mutated_requests()
    json_documents()
    assert statuses.get(400) and statuses.get(200)
    assert post(server, "/health", b"", method="GET")[0] == 200
    assert post(server, "/v1/traces", trace_request(20, 20))[0] == 200
    assert server.terminate() == 0, server.stderr()
    assert not list(server.spool_dir.glob("quarantine/*")), "an accepted request failed to convert"
    got = {r[0] for r in duckdb.connect().execute(
        f"select try_cast(attributes['seq'] as bigint) from read_parquet("
        f"'{server.data_dir}/spans/*/*.parquet', union_by_name=true)").fetchall()}
    assert set(range(40)) <= got


def test_fuzzed_grpc_messages_get_ok_or_invalid_argument(serve):
    import grpc
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceResponse,
    )

    server = serve("--segment-seconds", "0.2")
    codes: dict[str, int] = {}
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        traces = ch.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                request_serializer=None,
                                response_deserializer=ExportTraceServiceResponse.FromString)
        metrics = ch.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            request_serializer=None,
            response_deserializer=ExportMetricsServiceResponse.FromString)
        traces(trace_request(0, 10), timeout=10)

        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(body=st.one_of(st.binary(max_size=256), mutated()), which=st.booleans())
        def fuzz(body: bytes, which: bool) -> None:
            call = traces if which else metrics
            try:
                call(body, timeout=10)
                code = "OK"
            except grpc.RpcError as err:
                code = err.code().name
            codes[code] = codes.get(code, 0) + 1
            assert code in ("OK", "INVALID_ARGUMENT"), code

        fuzz()
        traces(trace_request(10, 10), timeout=10)
    assert codes.get("INVALID_ARGUMENT") and codes.get("OK")
    assert server.terminate() == 0, server.stderr()
    assert not list(server.spool_dir.glob("quarantine/*"))
    got = {r[0] for r in duckdb.connect().execute(
        f"select try_cast(attributes['seq'] as bigint) from read_parquet("
        f"'{server.data_dir}/spans/*/*.parquet', union_by_name=true)").fetchall()}
    assert set(range(20)) <= got
