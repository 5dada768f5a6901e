"""ParquetMetricExporter (every point type, temporality) and ParquetLogRecordExporter."""

from __future__ import annotations

import logging

import polars as pl
import pyarrow.dataset as pads
import pytest
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otelytics.exporter import ParquetLogRecordExporter, ParquetMetricExporter
from otelytics.exporter.schema import LOG_SCHEMA, METRIC_SCHEMA
from tests.exporter.conftest import duck, duck_dicts


def _meter_provider(root):
    exporter = ParquetMetricExporter(root=str(root))
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": "metrics-svc"}), metric_readers=[reader],
        views=[View(instrument_name="latency.exp",
                    aggregation=ExponentialBucketHistogramAggregation(max_size=20))])
    return provider


def test_every_point_type_with_values_and_temporality(tmp_path):
    provider = _meter_provider(tmp_path)
    meter = provider.get_meter("shop", "2.0")
    counter = meter.create_counter("orders", unit="{order}", description="orders placed")
    updown = meter.create_up_down_counter("queue.depth")
    hist = meter.create_histogram("latency", unit="s",
                                  explicit_bucket_boundaries_advisory=[0.1, 1.0])
    exp = meter.create_histogram("latency.exp", unit="s")
    gauge = meter.create_gauge("temperature")
    meter.create_observable_gauge("cpu", callbacks=[lambda _: [Observation(0.25, {"core": 1})]])
    for v in (1, 2, 3):
        counter.add(v, {"region": "eu"})
    counter.add(10, {"region": "us"})
    updown.add(5)
    updown.add(-2)
    for v in (0.05, 0.5, 0.7, 3.0):
        hist.record(v)
        exp.record(v)
    gauge.set(21.5)
    provider.force_flush()
    counter.add(4, {"region": "eu"})  # second collection: a delta of 4, not a total of 10
    updown.add(1)
    provider.shutdown()

    glob = f"{tmp_path}/metrics/**/*.parquet"
    rows = duck_dicts(f"select * from read_parquet('{glob}') order by time, metric_name")
    by = {}
    for r in rows:
        by.setdefault(r["metric_name"], []).append(r)
    eu = [r["value_int"] for r in by["orders"] if dict(r["attributes"]) == {"region": "eu"}]
    assert eu == [6, 4]
    orders = by["orders"][0]
    assert (orders["metric_type"], orders["temporality"], orders["is_monotonic"]) == (
        "sum", "delta", True)
    assert (orders["unit"], orders["description"]) == ("{order}", "orders placed")
    assert (orders["scope_name"], orders["scope_version"]) == ("shop", "2.0")
    assert orders["service_name"] == "metrics-svc"
    assert [(r["value_int"], r["temporality"], r["is_monotonic"]) for r in by["queue.depth"]] == [
        (3, "cumulative", False), (4, "cumulative", False)]
    (h,) = by["latency"]
    assert (h["metric_type"], h["temporality"], h["count"]) == ("histogram", "delta", 4)
    assert h["sum"] == sum((0.05, 0.5, 0.7, 3.0)) and (h["min"], h["max"]) == (0.05, 3.0)
    assert h["bucket_bounds"] == [0.1, 1.0] and h["bucket_counts"] == [1, 2, 1]
    (e,) = by["latency.exp"]
    assert e["metric_type"] == "exponential_histogram" and e["count"] == 4
    assert sum(e["exp_positive_counts"]) + e["exp_zero_count"] == 4
    assert e["exp_scale"] is not None and e["exp_positive_offset"] is not None
    # a gauge reports its last value at every collection
    assert {(g["metric_type"], g["temporality"], g["value_double"])
            for g in by["temperature"]} == {("gauge", "unspecified", 21.5)}
    cpu = by["cpu"]
    assert cpu[0]["value_double"] == 0.25 and dict(cpu[0]["attributes"]) == {"core": "1"}
    # the same files through polars and pyarrow
    assert pl.scan_parquet(glob).select(pl.len()).collect().item() == len(rows)
    t = pads.dataset(f"{tmp_path}/metrics", format="parquet", schema=METRIC_SCHEMA).to_table()
    assert t.num_rows == len(rows)


def test_metric_exporter_prefers_delta_for_flows_cumulative_for_levels():
    from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality as T

    e = ParquetMetricExporter(root="/nonexistent-never-written")
    assert e._preferred_temporality[Counter] is T.DELTA
    assert e._preferred_temporality[Histogram] is T.DELTA
    assert e._preferred_temporality[UpDownCounter] is T.CUMULATIVE
    e.shutdown()


@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")
def test_logs_with_trace_context_body_and_attributes(tmp_path):
    exporter = ParquetLogRecordExporter(root=str(tmp_path))
    provider = LoggerProvider(resource=Resource.create({"service.name": "log-svc"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("test-exporter-logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("t")
    try:
        logger.info("plain %s", "message", extra={"order_id": 42})
        with tracer.start_as_current_span("inside") as span:
            logger.error('quote " and\nnewline é')
            ctx = span.get_span_context()
        provider.get_logger("events").emit(body={"k": [1, 2]}, event_name="shop.order",
                                           attributes={"ok": True})
    finally:
        logger.removeHandler(handler)
    provider.shutdown()
    rows = duck_dicts(f"select * from read_parquet('{tmp_path}/logs/**/*.parquet') "
                      "order by observed_time")
    assert [r["body"] for r in rows] == ["plain message", 'quote " and\nnewline é',
                                         '{"k":[1,2]}']
    plain, err, event = rows
    assert (plain["severity_text"], plain["severity_number"]) == ("INFO", 9)
    assert dict(plain["attributes"])["order_id"] == "42"
    assert plain["trace_id"] is None and plain["service_name"] == "log-svc"
    assert (err["severity_text"], err["severity_number"]) == ("ERROR", 17)
    assert (err["trace_id"], err["span_id"]) == (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert event["event_name"] == "shop.order" and dict(event["attributes"]) == {"ok": "true"}
    assert all(r["time"] is not None for r in rows)
    assert duck(f"select count(*) from '{tmp_path}/logs/**/*.parquet'") == [(3,)]
    t = pads.dataset(f"{tmp_path}/logs", format="parquet", schema=LOG_SCHEMA).to_table()
    assert t.num_rows == 3
