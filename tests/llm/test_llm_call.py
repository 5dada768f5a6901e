"""``otelytics.llm_call`` and ``otelytics.tool``; GenAI metrics with their semconv buckets."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otelytics
from otelytics.semconv import attributes as a
from otelytics.semconv import metrics as m
from otelytics.testing import Reply
from tests._metrics_helpers import COLLECTING_EXPORTERS
from tests.llm.conftest import GPT, MSGS, llm_spans, one_span, point


def test_llm_call_records_span(spans):
    with otelytics.llm_call(provider="mistral_ai", model="mistral-small", operation="chat",
                            server_address="api.mistral.ai", server_port=443) as call:
        call.record_usage(input_tokens=100, output_tokens=20, cache_read_tokens=40)
        call.record_response(model="mistral-small-2409", id="r1", finish_reasons=["stop"])
        call.record_tool_call("search", "c1")
    span = one_span(spans)
    assert span.name == "chat mistral-small"
    assert span.kind is SpanKind.CLIENT
    attrs = span.attributes
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "mistral_ai"
    assert attrs[a.SERVER_ADDRESS] == "api.mistral.ai"
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 40
    assert attrs[a.GEN_AI_RESPONSE_MODEL] == "mistral-small-2409"
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[a.OTELYTICS_RESPONSE_TOOL_CALL_NAMES] == ("search",)
    assert a.OTELYTICS_COST_SOURCE in attrs


def test_llm_call_cache_write_spelling_and_error(spans):
    with otelytics.llm_call(provider="anthropic", model="claude-x") as call:
        call.record_usage(input_tokens=10, output_tokens=1, cache_write_tokens=6)
    assert one_span(spans).attributes[a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 6
    spans.clear()
    with pytest.raises(TimeoutError), otelytics.llm_call(provider="x", model="m"):
        raise TimeoutError("slow")
    span = one_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[a.ERROR_TYPE] == "TimeoutError"


def test_llm_call_without_usage_is_unpriced_not_zero(spans):
    with otelytics.llm_call(provider="openai", model=GPT):
        pass
    attrs = one_span(spans).attributes
    assert attrs[a.OTELYTICS_COST_SOURCE] == "unpriced"
    assert a.OTELYTICS_COST_USD not in attrs


def test_llm_call_async_and_rollup(spans):
    async def main():
        with otelytics.track("agent"):
            async with otelytics.llm_call(provider="p", model="m1") as call:
                await asyncio.sleep(0)
                call.record_usage(input_tokens=7, output_tokens=3)

    asyncio.run(main())
    outer = next(s for s in spans.get_finished_spans() if s.name == "agent")
    inner = one_span(spans)
    assert inner.parent.span_id == outer.context.span_id
    assert outer.attributes[a.OTELYTICS_ROLLUP_INPUT_TOKENS] == 7
    assert outer.attributes[a.OTELYTICS_ROLLUP_UNPRICED_CALLS] == 1


def test_tool_decorator_and_block(spans):
    @otelytics.tool("get_weather")
    def get_weather(city):
        return f"sunny in {city}"

    assert get_weather("Paris") == "sunny in Paris"
    with otelytics.tool("search", call_id="call_7"):
        pass
    got = {s.name: s for s in spans.get_finished_spans()}
    w = got["execute_tool get_weather"]
    assert w.attributes[a.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert w.attributes[a.GEN_AI_TOOL_NAME] == "get_weather"
    assert got["execute_tool search"].attributes[a.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert llm_spans(spans) == []


def test_metrics_with_semconv_buckets(oai, fake, spans, metric_reader):
    model = "metrics-model-1"  # a model no other test uses: cumulative points start at 0
    fake.script(Reply(input_tokens=300, output_tokens=20, model=model),
                Reply(input_tokens=100, output_tokens=10, model=model),
                Reply(text="a b c", input_tokens=5, output_tokens=3, model=model))
    oai.chat.completions.create(model=model, messages=MSGS)
    oai.chat.completions.create(model=model, messages=MSGS)
    list(oai.chat.completions.create(model=model, messages=MSGS, stream=True,
                                     stream_options={"include_usage": True}))
    base = {"gen_ai__request__model": model, "gen_ai__operation__name": "chat"}
    inp = point(metric_reader, m.GEN_AI_CLIENT_TOKEN_USAGE.name, gen_ai__token__type="input",
                **base)
    out = point(metric_reader, m.GEN_AI_CLIENT_TOKEN_USAGE.name, gen_ai__token__type="output",
                **base)
    assert (inp.count, inp.sum) == (3, 405)
    assert (out.count, out.sum) == (3, 33)
    assert tuple(inp.explicit_bounds) == m.GEN_AI_CLIENT_TOKEN_USAGE.bucket_boundaries
    dur = point(metric_reader, m.GEN_AI_CLIENT_OPERATION_DURATION.name, **base)
    assert dur.count == 3
    assert tuple(dur.explicit_bounds) == m.GEN_AI_CLIENT_OPERATION_DURATION.bucket_boundaries
    ttfc = point(metric_reader, m.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK.name, **base)
    assert ttfc.count == 1
    # unknown model: counted as unpriced, never as $0
    unpriced = point(metric_reader, m.OTELYTICS_LLM_UNPRICED_CALLS.name, **base)
    assert unpriced.value == 3
    assert point(metric_reader, m.OTELYTICS_LLM_COST.name, **base) is None
    # bounded labels: no ids, urls, or content
    for p in (inp, dur, unpriced):
        assert set(p.attributes) <= {
            a.GEN_AI_OPERATION_NAME, a.GEN_AI_PROVIDER_NAME, a.GEN_AI_REQUEST_MODEL,
            a.GEN_AI_RESPONSE_MODEL, a.SERVER_ADDRESS, a.GEN_AI_TOKEN_TYPE, a.ERROR_TYPE}
        assert p.attributes[a.SERVER_ADDRESS] == "127.0.0.1"


def test_bridged_genai_histograms_are_exact_cumulative_and_delta(python_run):
    """configure() builds the metric pipeline: GenAI histograms are aggregated in process and
    reach every exporter through the bridge, with the same figures as the OTel SDK would."""
    import json
    import textwrap

    code = COLLECTING_EXPORTERS + textwrap.dedent("""
        otelytics.configure(exporters=[cum, delta], instrument_llm=False)
        out = {}
        for round_ in range(2):
            for n in (100, 300):
                with otelytics.llm_call(provider="openai", model="gpt-4o-mini") as c:
                    c.record_usage(input_tokens=n, output_tokens=n // 10)
            otelytics.force_flush()
            for name, exp in (("cum", cum), ("delta", delta)):
                got = {}
                for rm in exp.batches[-1].resource_metrics:
                    for sm in rm.scope_metrics:
                        for mt in sm.metrics:
                            for p in mt.data.data_points:
                                key = mt.name + ":" + str(p.attributes.get("gen_ai.token.type"))
                                got[key] = ([p.count, p.sum, sum(p.bucket_counts)]
                                            if hasattr(p, "count") else p.value)
                out.setdefault(name, []).append(got)
        print(json.dumps(out))
    """)
    r = python_run(code, env={"OTEL_METRIC_EXPORT_INTERVAL": "600000"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    tok_in = "gen_ai.client.token.usage:input"
    tok_out = "gen_ai.client.token.usage:output"
    assert [b[tok_in] for b in out["cum"]] == [[2, 400, 2], [4, 800, 4]]
    assert [b[tok_out] for b in out["cum"]] == [[2, 40, 2], [4, 80, 4]]
    assert [b[tok_in] for b in out["delta"]] == [[2, 400, 2], [2, 400, 2]]
    assert out["cum"][1]["gen_ai.client.operation.duration:None"][0] == 4
    assert out["cum"][1]["otelytics.llm.cost.per_call:None"][0] == 4
    from otelytics.llm import pricing

    one = sum(pricing.price("openai", "gpt-4o-mini", pricing.Usage(n, n // 10)).usd
              for n in (100, 300))
    assert abs(out["cum"][1]["otelytics.llm.cost:None"] - 2 * one) < 1e-12


def test_default_fingerprint_key_is_random_per_install_and_kept(tmp_path, monkeypatch):
    from otelytics.llm import _settings

    monkeypatch.delenv("OTELYTICS_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    try:
        first = _settings.refresh().fingerprint_key
        path = tmp_path / "otelytics" / "fingerprint.key"
        assert path.read_bytes() == first and len(first) == 64
        assert (path.stat().st_mode & 0o777) == 0o600
        assert _settings.refresh().fingerprint_key == first  # kept across processes
        (path).unlink()
        assert _settings.refresh().fingerprint_key != first  # random, not derived
    finally:
        monkeypatch.undo()
        _settings.refresh()
