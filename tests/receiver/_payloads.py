"""Build OTLP requests with numbered spans (``seq`` attribute) for tests and the benchmark."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def span_ids(seq: int) -> tuple[bytes, bytes]:
    """Deterministic (trace_id, span_id) of span number ``seq``."""
    return (seq + 1).to_bytes(16, "big"), (seq + 1).to_bytes(8, "big")


def trace_request(first: int, n: int, *, service: str = "svc", attrs: int = 4) -> bytes:
    """An ExportTraceServiceRequest of spans ``first .. first+n-1``, serialized."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name",
                                           value=AnyValue(string_value=service)))
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    now = time.time_ns()
    for seq in range(first, first + n):
        tid, sid = span_ids(seq)
        s = ss.spans.add(trace_id=tid, span_id=sid, name=f"op{seq % 7}",
                         kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=now,
                         end_time_unix_nano=now + 1_000_000)
        s.attributes.append(KeyValue(key="seq", value=AnyValue(int_value=seq)))
        for a in range(attrs - 1):
            s.attributes.append(KeyValue(key=f"attr{a}", value=AnyValue(string_value=f"v{a}")))
    return req.SerializeToString()
