"""Run in a separate process: ship spans, metrics and logs with the official OTLP exporters.

``python _otlp_client.py {http|grpc} ENDPOINT OUT.json [gzip]``; records what it sent (from an
in-memory copy of the same spans) in OUT.json for the test to compare with the dataset.
"""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

protocol, endpoint, out = sys.argv[1], sys.argv[2], sys.argv[3]
compression = sys.argv[4] if len(sys.argv) > 4 else None

if protocol == "http":
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
    span_exp = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", compression=comp)
    metric_exp = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", compression=comp)
    log_exp = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", compression=comp)
else:
    from grpc import Compression
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
    span_exp = OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=comp)
    metric_exp = OTLPMetricExporter(endpoint=endpoint, insecure=True, compression=comp)
    log_exp = OTLPLogExporter(endpoint=endpoint, insecure=True, compression=comp)

resource = Resource.create({"service.name": f"client-{protocol}", "deployment.environment": "t",
                            "host.cores": 8})
memory = InMemorySpanExporter()
tp = TracerProvider(resource=resource)
tp.add_span_processor(SimpleSpanProcessor(span_exp))
tp.add_span_processor(SimpleSpanProcessor(memory))
tracer = tp.get_tracer("otlp-client", "1.2.3")

lp = LoggerProvider(resource=resource)
lp.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
log = logging.getLogger("otlp-client")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=lp))

reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)
mp = MeterProvider(resource=resource, metric_readers=[reader], views=[
    View(instrument_name="exp.latency", aggregation=ExponentialBucketHistogramAggregation())])
meter = mp.get_meter("otlp-client-meter", "0.1")

with tracer.start_as_current_span("root", kind=SpanKind.SERVER,
                                  attributes={"http.route": "/x", "n": 3, "ratio": 0.5,
                                              "ok": True, "tags": ["a", "b"]}) as root:
    for i in range(5):
        with tracer.start_as_current_span(
                "chat gpt-4o", kind=SpanKind.CLIENT,
                attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10 + i,
                            "gen_ai.usage.output_tokens": 20 + i, "i": i},
                links=[Link(root.get_span_context(), {"why": "test"})]) as s:
            s.add_event("chunk", {"n": i})
            if i == 4:
                s.set_status(Status(StatusCode.ERROR, "boom"))
                s.set_attribute("error.type", "TimeoutError")
    log.warning("inside a span %d", 7)
log.info("outside spans")

counter = meter.create_counter("requests", unit="{request}", description="reqs")
counter.add(5, {"route": "/a"})
counter.add(7, {"route": "/a"})
updown = meter.create_up_down_counter("queue")
updown.add(3)
meter.create_observable_gauge("temperature", callbacks=[
    lambda options: [__import__("opentelemetry.metrics", fromlist=["Observation"])
                     .Observation(21.5, {"room": "lab"})]])
hist = meter.create_histogram("latency", unit="s")
for v in (0.5, 3.0, 30.0, 300.0):
    hist.record(v)
exp_hist = meter.create_histogram("exp.latency", unit="ms")
for v in (1.0, 2.0, 4.0, 1000.0):
    exp_hist.record(v)

tp.shutdown()
lp.shutdown()
mp.shutdown()

spans = [{
    "trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x"),
    "parent_span_id": format(s.parent.span_id, "016x") if s.parent else None,
    "name": s.name, "kind": s.kind.name, "start_us": s.start_time // 1000,
    "end_us": s.end_time // 1000, "duration_us": (s.end_time - s.start_time) // 1000,
    "status": s.status.status_code.name,
    "attributes": {k: v if isinstance(v, str) else json.dumps(list(v) if isinstance(v, tuple)
                                                              else v, separators=(",", ":"))
                   for k, v in s.attributes.items()},
    "events": [e.name for e in s.events], "links": len(s.links),
} for s in memory.get_finished_spans()]
with open(out, "w") as f:
    json.dump({"spans": spans}, f)
