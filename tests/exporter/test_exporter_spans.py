"""ParquetSpanExporter with real SDK providers, read back by DuckDB, polars and pyarrow."""

from __future__ import annotations

import json
import os

import polars as pl
import pyarrow.dataset as pads
import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otelytics.exporter import ParquetSpanExporter, drop_counts
from otelytics.exporter.schema import PROMOTED_SPAN_ATTRIBUTES, SPAN_SCHEMA
from otelytics.semconv import attributes as A
from tests.exporter.conftest import duck, duck_dicts


def _provider(root, batch: bool = False, **kw) -> tuple[TracerProvider, ParquetSpanExporter]:
    exporter = ParquetSpanExporter(root=str(root), **kw)
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "deploy": 3}))
    # a queue big enough for the whole test: the SDK itself drops spans when it overflows
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=20_000)
                                if batch else SimpleSpanProcessor(exporter))
    return provider, exporter


def _rows(root) -> list[dict]:
    return duck_dicts(
        f"select * from read_parquet('{root}/spans/**/*.parquet', hive_partitioning=true) "
        "order by start_time")


def test_simple_processor_does_no_disk_io_inline_and_flush_publishes(tmp_path):
    provider, exporter = _provider(tmp_path)
    tracer = provider.get_tracer("app")
    for i in range(50):
        with tracer.start_as_current_span(f"op{i % 3}"):
            pass
    assert os.listdir(tmp_path) == []  # 50 exports, not a byte written by the request thread
    assert exporter.force_flush()
    assert duck(f"select count(*) from '{tmp_path}/spans/**/*.parquet'") == [(50,)]
    provider.shutdown()


def test_span_columns_promoted_and_not_repeated(tmp_path):
    provider, _ = _provider(tmp_path)
    tracer = provider.get_tracer("otelytics", "1.2")
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as llm:
        llm.set_attribute(A.OTELYTICS_SPAN_TYPE, "llm")
        llm.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o")
        llm.set_attribute(A.GEN_AI_PROVIDER_NAME, "openai")
        llm.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
        llm.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 1200)
        llm.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 350)
        llm.set_attribute(A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 64)
        llm.set_attribute(A.OTELYTICS_COST_USD, 0.0031)
        llm.set_attribute(A.OTELYTICS_USAGE_ESTIMATED, False)
        llm.set_attribute(A.SESSION_ID, "s-1")
        llm.set_attribute(A.GEN_AI_RESPONSE_FINISH_REASONS, ("stop", "length"))
        llm.set_attribute("custom.ratio", 0.5)
        llm.set_attribute("custom.n", 7)
        llm.set_status(Status(StatusCode.ERROR, "rate limited"))
        llm.set_attribute(A.ERROR_TYPE, "RateLimitError")
    provider.shutdown()
    (row,) = _rows(tmp_path)
    assert row["name"] == "chat gpt-4o" and row["kind"] == "CLIENT"
    assert row["span_type"] == "llm" and row["estimator_name"] is None
    assert row["gen_ai_request_model"] == "gpt-4o" and row["gen_ai_provider_name"] == "openai"
    assert (row["gen_ai_input_tokens"], row["gen_ai_output_tokens"]) == (1200, 350)
    assert row["gen_ai_cache_creation_tokens"] == 64  # folded from cache_write
    assert row["cost_usd"] == 0.0031 and row["usage_estimated"] is False
    assert row["session_id"] == "s-1" and row["error_type"] == "RateLimitError"
    assert (row["status_code"], row["status_message"]) == ("ERROR", "rate limited")
    assert row["scope_name"] == "otelytics" and row["scope_version"] == "1.2"
    assert row["service_name"] == "shop"
    attrs = dict(row["attributes"])
    assert attrs == {A.GEN_AI_RESPONSE_FINISH_REASONS: '["stop","length"]',
                     "custom.ratio": "0.5", "custom.n": "7"}
    promoted = {p.attribute for p in PROMOTED_SPAN_ATTRIBUTES}
    assert not promoted & set(attrs) and A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS not in attrs
    res = dict(row["resource_attributes"])
    assert res["service.name"] == "shop" and res["deploy"] == "3"


def test_otelytics_function_spans_get_type_and_estimator_name(tmp_path):
    provider, _ = _provider(tmp_path)
    ours, theirs = provider.get_tracer("otelytics"), provider.get_tracer("requests")
    with ours.start_as_current_span("fit"):
        with ours.start_as_current_span("wf") as wf:
            wf.set_attribute(A.OTELYTICS_SPAN_TYPE, "workflow")
        with ours.start_as_current_span("predict") as p:
            p.set_attribute(A.OTELYTICS_ESTIMATOR_NAME, "model.predict")
        with theirs.start_as_current_span("GET /"):
            pass
        with ours.start_as_current_span("chat gpt-4o",
                                        attributes={A.GEN_AI_OPERATION_NAME: "chat"}):
            pass
        with ours.start_as_current_span("execute_tool lookup",
                                        attributes={A.GEN_AI_OPERATION_NAME: "execute_tool"}):
            pass
    provider.shutdown()
    got = {r["name"]: (r["span_type"], r["estimator_name"]) for r in _rows(tmp_path)}
    assert got == {"fit": ("function", "fit"), "wf": ("workflow", "wf"),
                   "predict": ("function", "model.predict"), "GET /": (None, None),
                   "chat gpt-4o": ("llm", None), "execute_tool lookup": ("tool", None)}


def test_ids_times_events_links_and_parents(tmp_path):
    provider, _ = _provider(tmp_path)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("root", start_time=1_764_000_000_123_456_789) as root:
        ctx = root.get_span_context()
        with tracer.start_as_current_span("child", links=[Link(ctx, {"why": "retry"})]) as ch:
            ch.add_event("cache miss", {"key": "k1", "size": 3},
                         timestamp=1_764_000_000_200_000_000)
            try:
                raise ValueError("boom")
            except ValueError as exc:
                ch.record_exception(exc)
        root.end(end_time=1_764_000_001_123_457_999)
    provider.shutdown()
    rows = {r["name"]: r for r in _rows(tmp_path)}
    r, c = rows["root"], rows["child"]
    assert r["trace_id"] == f"{ctx.trace_id:032x}" and r["span_id"] == f"{ctx.span_id:016x}"
    assert r["parent_span_id"] is None and c["parent_span_id"] == r["span_id"]
    assert r["start_time"].timestamp() * 1e6 == pytest.approx(1_764_000_000_123_456, abs=1)
    assert r["start_time"].utcoffset().total_seconds() == 0
    assert r["duration_us"] == 1_000_001  # (end - start) = 1_000_001_210 ns, in µs
    (link,) = c["links"]
    assert (link["trace_id"], link["span_id"]) == (r["trace_id"], r["span_id"])
    assert dict(link["attributes"]) == {"why": "retry"}
    miss, exc_event = c["events"]
    assert miss["name"] == "cache miss" and dict(miss["attributes"]) == {"key": "k1", "size": "3"}
    assert miss["time"].timestamp() == pytest.approx(1_764_000_000.2)
    assert exc_event["name"] == "exception"
    assert dict(exc_event["attributes"])["exception.type"] == "ValueError"


NASTY = {
    "quote": 'say "hi" \'there\'',
    "newline": "line1\nline2\r\n\ttab",
    "unicode": "héllo 世界 🚀 \u200b",
    "huge": "x" * 1_000_000,
    "../x": "../../etc/passwd",
    "nul": "a\x00b",
}


def test_nasty_values_stored_faithfully_and_nothing_escapes_root(tmp_path):
    root = tmp_path / "root"
    provider, _ = _provider(root)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("../../escape\n") as s:
        for k, v in NASTY.items():
            s.set_attribute(k, v)
        s.set_attribute(A.SESSION_ID, "../s\x00")
    provider.shutdown()
    everything = [os.path.relpath(os.path.join(d, f), tmp_path)
                  for d, _, files in os.walk(tmp_path) for f in files]
    assert len(everything) == 1 and everything[0].startswith("root/spans/dt=")
    for reader in ("duckdb", "polars", "pyarrow"):
        if reader == "duckdb":
            row = _rows(root)[0]
            attrs = dict(row["attributes"])
        elif reader == "polars":
            row = pl.read_parquet(f"{root}/spans/**/*.parquet").row(0, named=True)
            a = row["attributes"]  # polars 2 reads a Parquet MAP as a map (a dict here)
            attrs = a if isinstance(a, dict) else {kv["key"]: kv["value"] for kv in a}
        else:
            t = pads.dataset(f"{root}/spans", format="parquet", schema=SPAN_SCHEMA).to_table()
            row = t.to_pylist()[0]
            attrs = dict(row["attributes"])
        assert attrs == NASTY, reader
        assert row["name"] == "../../escape\n" and row["session_id"] == "../s\x00", reader


def test_batch_processor_many_spans_exact_counts_three_readers(tmp_path):
    provider, _ = _provider(tmp_path, True, row_group_rows=1000, max_rows=3000)
    tracer = provider.get_tracer("app")
    for i in range(10_000):
        with tracer.start_as_current_span(f"op{i % 7}") as s:
            s.set_attribute("i", i)
    provider.shutdown()
    glob = f"{tmp_path}/spans/**/*.parquet"
    assert duck(
        f"select count(*), count(distinct span_id), sum(cast(attributes['i'] as bigint)) "
        f"from '{glob}'") == [(10_000, 10_000, sum(range(10_000)))]
    per_name = pl.scan_parquet(glob).group_by("name").len().sort("name").collect()
    assert per_name["len"].to_list() == [len(range(k, 10_000, 7)) for k in range(7)]
    files = [f for f in pads.dataset(f"{tmp_path}/spans", format="parquet").files]
    assert len(files) == 4  # 3000 rows per file: 3 + 1
    assert drop_counts().get(("spans", "buffer_full"), 0) == 0


def test_export_after_shutdown_is_counted_not_raised(tmp_path):
    exporter = ParquetSpanExporter(root=str(tmp_path))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    exporter.shutdown()
    before = drop_counts().get(("spans", "closed"), 0)
    with provider.get_tracer("x").start_as_current_span("late"):
        pass
    assert drop_counts()[("spans", "closed")] == before + 1


def test_options_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OTELYTICS_DATA_DIR", str(tmp_path / "env-root"))
    monkeypatch.setenv("OTELYTICS_FILE_MAX_ROWS", "7")
    monkeypatch.setenv("OTELYTICS_FILE_MAX_AGE", "not-a-number")
    exporter = ParquetSpanExporter()
    assert exporter.root == str(tmp_path / "env-root")
    assert exporter._core.writer.max_rows == 7 and exporter._core.writer.max_age_s == 300
    assert ParquetSpanExporter(root=str(tmp_path), max_rows=9)._core.writer.max_rows == 9
    with pytest.raises(ValueError, match="max_rows"):
        ParquetSpanExporter(max_rows=0)


def test_traces_api_span_is_not_exported_twice(tmp_path):
    # trace.get_tracer_provider() is the shared test provider: ours is independent of it
    provider, _ = _provider(tmp_path)
    assert trace.get_tracer_provider() is not provider
    provider.shutdown()
    assert not (tmp_path / "spans").exists()
    payload = json.dumps(NASTY["unicode"])
    assert "\\u" in payload  # the map stores raw strings, not JSON-escaped ones


def test_values_that_do_not_fit_a_promoted_column_stay_in_the_map(tmp_path):
    provider, _ = _provider(tmp_path)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("a") as s:
        s.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 2**70)  # beyond int64
        s.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, "12")  # a numeric string: parsed
        s.set_attribute(A.OTELYTICS_COST_USD, "n/a")  # not a number: kept as it came
    with tracer.start_as_current_span("b") as s:
        s.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 5)
    provider.shutdown()
    a, b = _rows(tmp_path)
    assert a["gen_ai_input_tokens"] is None and a["gen_ai_output_tokens"] == 12
    assert dict(a["attributes"]) == {A.GEN_AI_USAGE_INPUT_TOKENS: str(2**70),
                                     A.OTELYTICS_COST_USD: "n/a"}
    assert b["gen_ai_input_tokens"] == 5


def test_full_buffer_drops_batches_and_counts_them(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("the root cannot be created under a file")
    exporter = ParquetSpanExporter(root=str(blocker / "root"), max_buffer_bytes=1)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    before = drop_counts().get(("spans", "buffer_full"), 0)
    tracer = provider.get_tracer("x")
    for _ in range(5):  # the first batch is accepted, the next four find the buffer full
        with tracer.start_as_current_span("s"):
            pass
    assert drop_counts()[("spans", "buffer_full")] - before == 4
    provider.shutdown()
    assert drop_counts()[("spans", "shutdown")] >= 1


def test_drops_are_visible_as_the_self_metric(tmp_path, metric_reader):
    exporter = ParquetSpanExporter(root=str(tmp_path))
    exporter.shutdown()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for _ in range(3):
        with provider.get_tracer("x").start_as_current_span("late"):
            pass
    expected = drop_counts()[("spans", "closed")]
    points = [
        p for rm in metric_reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics for m in sm.metrics
        if m.name == "otelytics.exporter.dropped" for p in m.data.data_points
    ]
    closed = [p for p in points if dict(p.attributes) == {
        A.OTELYTICS_SIGNAL: "spans", A.OTELYTICS_DROP_REASON: "closed"}]
    assert [p.value for p in closed] == [expected] and expected >= 3


def test_one_batch_from_several_resources_keeps_each_rows_resource(tmp_path):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    for svc, extra in (("api", {"zone": "a"}), ("worker", {}), ("api", {"zone": "b"})):
        provider = TracerProvider(resource=Resource.create({"service.name": svc, **extra}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        scope_tracer = provider.get_tracer(f"scope-{svc}", "9")
        for i in range(3):
            with scope_tracer.start_as_current_span(f"{svc}{extra.get('zone', '')}-{i}"):
                pass
    spans = list(memory.get_finished_spans())
    spans = spans[::2] + spans[1::2]  # interleave the resources within the one batch
    exporter = ParquetSpanExporter(root=str(tmp_path))
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()
    rows = duck_dicts(f"select name, service_name, scope_name, scope_version, "
                      f"resource_attributes from '{tmp_path}/spans/**/*.parquet'")
    assert len(rows) == 9
    for row in rows:
        res = dict(row["resource_attributes"])
        assert res["service.name"] == row["service_name"]
        assert row["name"].startswith(row["service_name"] + res.get("zone", ""))
        assert row["scope_name"] == f"scope-{row['service_name']}"
        assert row["scope_version"] == "9"
