"""Run in a separate process: the same spans and logs go to the Parquet exporters (directory
ARGV[2]) and, through the official OTLP/HTTP exporters, to a receiver at ARGV[1]."""

from __future__ import annotations

import logging
import sys

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from otelytics.exporter import (
    ParquetLogRecordExporter,
    ParquetMetricExporter,
    ParquetSpanExporter,
)


class Tee(MetricExporter):
    """The very same MetricsData to both exporters (a reader collects once)."""

    def __init__(self, *exporters):
        super().__init__()
        self.exporters = exporters

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        ok = [e.export(metrics_data) for e in self.exporters]
        return MetricExportResult.SUCCESS if all(
            r == MetricExportResult.SUCCESS for r in ok) else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis=10_000):
        return all(e.force_flush() for e in self.exporters)

    def shutdown(self, timeout_millis=30_000, **kwargs):
        for e in self.exporters:
            e.shutdown()

endpoint, root = sys.argv[1], sys.argv[2]
resource = Resource.create({"service.name": "equiv", "k8s.pod.uid": "abc", "n": 3})
tp = TracerProvider(resource=resource)
tp.add_span_processor(SimpleSpanProcessor(ParquetSpanExporter(root)))
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
lp = LoggerProvider(resource=resource)
lp.add_log_record_processor(SimpleLogRecordProcessor(ParquetLogRecordExporter(root)))
lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
    endpoint=f"{endpoint}/v1/logs")))
log = logging.getLogger("equiv")
log.propagate = False
log.setLevel(logging.DEBUG)
log.addHandler(LoggingHandler(logger_provider=lp))

reader = PeriodicExportingMetricReader(
    Tee(ParquetMetricExporter(root), OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")),
    export_interval_millis=3_600_000)
mp = MeterProvider(resource=resource, metric_readers=[reader], views=[
    View(instrument_name="exp", aggregation=ExponentialBucketHistogramAggregation())])
meter = mp.get_meter("equiv-meter", "2.0")
meter.create_counter("calls", unit="{call}").add(3, {"route": "/a", "ok": True})
meter.create_up_down_counter("inflight").add(-2)
meter.create_observable_gauge("temp", callbacks=[lambda o: [Observation(1.5, {"z": 1})]])
hist = meter.create_histogram("lat", unit="s", description="latency")
for v in (0.1, 2.0, 50.0):
    hist.record(v, {"op": "x"})
exp = meter.create_histogram("exp")
for v in (0.5, 3.0, 3000.0):
    exp.record(v)

ours = tp.get_tracer("otelytics", "0.1")
lib = tp.get_tracer("some.lib")
with ours.start_as_current_span("fit", attributes={
        "otelytics.estimator.data_length": 1000, "otelytics.process.cpu_time": 0.25,
        "code.function.name": "fit", "otelytics.estimator.param.alpha": 0.5}):
    with ours.start_as_current_span("pipeline", attributes={"otelytics.span.type": "workflow",
                                                            "otelytics.workflow.name": "etl"}):
        with lib.start_as_current_span("chat claude", kind=SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-x", "gen_ai.usage.input_tokens": "120",
                "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cache_write.input_tokens": 7,
                "otelytics.cost.usd": 0.0012, "otelytics.usage.estimated": False,
                "gen_ai.response.finish_reasons": ["stop"], "weird": [1.5, 2.5],
                "error.type": 42}) as s:
            s.add_event("exception", {"exception.type": "ValueError", "n": 1})
            s.set_status(Status(StatusCode.ERROR, "nope"))
            log.error("failed %s", "once", extra={"attempt": 2, "ok": False})
log.debug("after")
tp.shutdown()
lp.shutdown()
mp.shutdown()
