"""`OTEL_TRACES_EXPORTER=otlp` under opentelemetry-instrument ships through the official
OTLP exporter to any backend: here a minimal OTLP/HTTP backend on 127.0.0.1 that decodes
what it receives with opentelemetry-proto."""

from __future__ import annotations

import gzip
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

BIN = Path(sys.executable).parent


class _Backend(BaseHTTPRequestHandler):
    received: dict[str, list[bytes]]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.setdefault(self.path, []).append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    server.received = {}  # type: ignore[attr-defined]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def test_otlp_http_ships_spans_and_metrics_with_no_code_change(backend, python_run):
    port = backend.server_address[1]
    r = python_run(
        "examples/zero_code_app.py",
        env={
            "PATH": f"{BIN}:/usr/bin:/bin",
            "OTELYTICS_INSTRUMENT": "inventory:*",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_SERVICE_NAME": "shipped",
        },
        prefix=[str(BIN / "opentelemetry-instrument")],
    )
    assert r.returncode == 0, r.stderr
    traces = [ExportTraceServiceRequest.FromString(b)
              for b in backend.received.get("/v1/traces", [])]
    names = [s.name for req in traces for rs in req.resource_spans
             for ss in rs.scope_spans for s in ss.spans]
    assert sorted(names) == sorted(["load", "Forecaster.default", "Forecaster.fit",
                                    "Forecaster.predict", "Forecaster.check",
                                    "Forecaster.check", "total"])
    service = {kv.value.string_value for req in traces for rs in req.resource_spans
               for kv in rs.resource.attributes if kv.key == "service.name"}
    assert service == {"shipped"}
    metrics = [ExportMetricsServiceRequest.FromString(b)
               for b in backend.received.get("/v1/metrics", [])]
    points = {m.name: m for req in metrics for rm in req.resource_metrics
              for sm in rm.scope_metrics for m in sm.metrics}
    hist = points["otelytics.estimator.duration"].histogram
    assert sum(p.count for p in hist.data_points) == 7
    calls = points["otelytics.estimator.calls"].sum
    by_outcome = {}
    for p in calls.data_points:
        labels = {kv.key: kv.value.string_value for kv in p.attributes}
        by_outcome[labels["otelytics.estimator.outcome"]] = (
            by_outcome.get(labels["otelytics.estimator.outcome"], 0) + p.as_int)
    assert by_outcome == {"ok": 6, "error": 1}
