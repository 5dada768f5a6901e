"""Spans from any producer, received over OTLP, reach Parquet priced (issue 4).

The official OTLP HTTP exporter in another process (no otelytics SDK, so no enrichment on the
way) ships GenAI spans; the receiver adds the cost with the SDK's enrichment rules. Expected
costs come from genai_prices.calc_price for the same usage, independently of our pricing code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import genai_prices
import pytest

from otelytics.semconv.attributes import OTELYTICS_COST_PRICE_VERSION, OTELYTICS_COST_USD
from tests.conftest import run_python

CLIENT = str(Path(__file__).with_name("_genai_client.py"))


def _rows(server) -> dict[str, tuple]:
    r = run_python(CLIENT, server.http, timeout=90)
    assert r.returncode == 0, r.stderr
    assert server.terminate() == 0, server.stderr()
    rows = duckdb.connect().execute(f"""
        select name, cost_usd, cost_source, gen_ai_provider_name, attributes
        from read_parquet('{server.data_dir}/spans/*/*.parquet')""").fetchall()
    return {row[0]: row[1:] for row in rows}


def _calc(model: str, **usage: int) -> float:
    return float(genai_prices.calc_price(genai_prices.Usage(**usage), model,
                                         provider_id="openai").total_price)


def _haiku_at_start(**usage: int) -> float:
    """genai-prices' own figure for claude-haiku-4-5 at the test spans' start time."""
    return float(genai_prices.calc_price(
        genai_prices.Usage(**usage), "claude-haiku-4-5", provider_id="anthropic",
        genai_request_timestamp=datetime.fromtimestamp(1_764_000_000, UTC)).total_price)


def test_received_genai_spans_are_priced_like_the_sdk_would(serve):
    rows = _rows(serve("--segment-seconds", "0.3"))
    assert set(rows) == {"known", "legacy", "unknown", "costed", "plain"}

    cost, source, provider, attrs = rows["known"]
    want = _calc("gpt-4o-mini", input_tokens=1200, output_tokens=300, cache_read_tokens=200)
    assert cost == pytest.approx(want, rel=1e-9) and cost > 0
    assert source == "price_table" and provider == "openai"
    assert dict(attrs)[OTELYTICS_COST_PRICE_VERSION].startswith("genai-prices")

    # deprecated gen_ai.system: the provider is filled in and the span priced
    cost, source, provider, _ = rows["legacy"]
    assert cost == pytest.approx(_calc("gpt-4o-mini", input_tokens=50, output_tokens=7),
                                 rel=1e-9)
    assert (source, provider) == ("price_table", "openai")

    # an unknown model is unpriced, never $0
    cost, source, _, attrs = rows["unknown"]
    assert cost is None and source == "unpriced"
    assert OTELYTICS_COST_PRICE_VERSION not in dict(attrs)

    # a producer's own cost is kept; a span without usage gets nothing
    assert rows["costed"][:2] == (1.25, "provider")
    cost, source, _, attrs = rows["plain"]
    assert cost is None and source is None and dict(attrs) == {"http.route": "/x"}


def test_without_genai_prices_received_spans_are_unpriced(serve, tmp_path):
    # a genai_prices that cannot be imported, shadowing the installed one in the receiver only
    shadow = tmp_path / "shadow" / "genai_prices"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('genai-prices not installed')\n")
    rows = _rows(serve("--segment-seconds", "0.3", env={"PYTHONPATH": str(shadow.parent)}))
    for name in ("known", "legacy", "unknown"):
        assert rows[name][:2] == (None, "unpriced"), name
    assert rows["costed"][:2] == (1.25, "provider")
    assert rows["plain"][:2] == (None, None)


def test_openlit_style_anthropic_span_is_normalised_then_priced():
    # gen_ai.system only, input reported WITHOUT the cache, the cache_write spelling: the
    # receiver's columns must say what the SDK's enrichment would (tests/llm/test_enrich.py)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from otelytics.exporter.receiver.decode import to_tables

    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\1" * 16, span_id=b"\2" * 8, name="chat", start_time_unix_nano=1_764_000_000
        * 10**9, end_time_unix_nano=1_764_000_001 * 10**9)
    for key, value in (("gen_ai.system", AnyValue(string_value="anthropic")),
                       ("gen_ai.request.model", AnyValue(string_value="claude-haiku-4-5")),
                       ("gen_ai.usage.input_tokens", AnyValue(int_value=50)),
                       ("gen_ai.usage.output_tokens", AnyValue(int_value=20)),
                       ("gen_ai.usage.cache_read.input_tokens", AnyValue(int_value=4000)),
                       ("gen_ai.usage.cache_write.input_tokens", AnyValue(int_value=600))):
        span.attributes.append(KeyValue(key=key, value=value))
    (table,) = to_tables("spans", [req]).values()
    row = table.to_pylist()[0]
    assert row["gen_ai_provider_name"] == "anthropic"
    assert (row["gen_ai_input_tokens"], row["gen_ai_cache_read_tokens"],
            row["gen_ai_cache_creation_tokens"]) == (4650, 4000, 600)
    want = _haiku_at_start(input_tokens=4650, output_tokens=20, cache_read_tokens=4000,
                           cache_write_tokens=600)
    assert row["cost_usd"] == pytest.approx(want, rel=1e-9) and row["cost_source"] == "price_table"
    attrs = dict(row["attributes"])
    assert attrs["gen_ai.system"] == "anthropic"
    assert attrs[OTELYTICS_COST_PRICE_VERSION].startswith("genai-prices")
    assert "gen_ai.usage.input_tokens" not in attrs  # in its column only, not duplicated


_OLDER = ("opentelemetry.instrumentation.anthropic", {  # OpenLLMetry before the v1.27 renames
    "gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-haiku-4-5",
    "gen_ai.usage.prompt_tokens": 5000, "gen_ai.usage.completion_tokens": 40,
    "gen_ai.usage.cache_read_input_tokens": 3000,
    "gen_ai.usage.cache_creation_input_tokens": 1200})
_OPENINFERENCE = ("openinference.instrumentation.anthropic", {  # llm.* names only
    "openinference.span.kind": "LLM", "llm.provider": "anthropic",
    "llm.model_name": "claude-haiku-4-5", "llm.token_count.prompt": 5000,
    "llm.token_count.completion": 40, "llm.token_count.prompt_details.cache_read": 3000,
    "llm.token_count.prompt_details.cache_write": 1200})


@pytest.mark.parametrize(("scope", "sent"), [_OLDER, _OPENINFERENCE], ids=["older", "oi"])
def test_other_usage_spellings_are_normalised_then_priced(scope, sent):
    # input inclusive of the cache for both producers; the columns must say what the SDK's
    # enrichment would
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from otelytics.exporter.receiver.decode import to_tables
    from otelytics.llm.enrich import enrich_attributes

    req = ExportTraceServiceRequest()
    scope_spans = req.resource_spans.add().scope_spans.add()
    scope_spans.scope.name = scope
    span = scope_spans.spans.add(
        trace_id=b"\1" * 16, span_id=b"\3" * 8, name="chat",
        start_time_unix_nano=1_764_000_000 * 10**9, end_time_unix_nano=1_764_000_001 * 10**9)
    for key, value in sent.items():
        any_value = AnyValue(string_value=value) if isinstance(value, str) \
            else AnyValue(int_value=value)
        span.attributes.append(KeyValue(key=key, value=any_value))
    (table,) = to_tables("spans", [req]).values()
    row = table.to_pylist()[0]
    assert (row["gen_ai_provider_name"], row["gen_ai_request_model"], row["gen_ai_input_tokens"],
            row["gen_ai_output_tokens"], row["gen_ai_cache_read_tokens"],
            row["gen_ai_cache_creation_tokens"]) == \
        ("anthropic", "claude-haiku-4-5", 5000, 40, 3000, 1200)
    want = _haiku_at_start(input_tokens=5000, output_tokens=40, cache_read_tokens=3000,
                           cache_write_tokens=1200)
    assert row["cost_usd"] == pytest.approx(want, rel=1e-9) and row["cost_source"] == "price_table"
    # the same figure the SDK-side enrichment gives for the same attributes
    sdk = enrich_attributes(sent, 1_764_000_000 * 10**9, scope)
    assert sdk[OTELYTICS_COST_USD] == pytest.approx(row["cost_usd"], rel=1e-12)
    kept = dict(row["attributes"])  # the producer's own names stay, as sent
    assert kept.get("gen_ai.usage.prompt_tokens", kept.get("llm.token_count.prompt")) == "5000"
