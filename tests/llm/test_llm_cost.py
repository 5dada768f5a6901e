"""Cost on spans, metrics and roll-ups equals genai-prices' own figure for the same usage."""

from __future__ import annotations

import genai_prices
import pytest

import otelytics
from otelytics.semconv import attributes as a
from otelytics.semconv import metrics as m
from otelytics.testing import Reply
from tests.llm.conftest import CLAUDE, MSGS, one_span, point


def _expected(model, provider, **usage):
    calc = genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider)
    return float(calc.total_price)


def test_openai_cost_with_cached_tokens(oai, fake, spans):
    model = "gpt-4o"
    fake.script(Reply(input_tokens=2000, output_tokens=300, cache_read_tokens=1500))
    oai.chat.completions.create(model=model, messages=MSGS)
    attrs = one_span(spans).attributes
    want = _expected(model, "openai", input_tokens=2000, cache_read_tokens=1500,
                     output_tokens=300)
    assert attrs[a.OTELYTICS_COST_USD] == pytest.approx(want, rel=1e-9)
    # cached tokens at the cache rate, not the full rate
    full = _expected(model, "openai", input_tokens=2000, output_tokens=300)
    assert attrs[a.OTELYTICS_COST_USD] < full
    assert attrs[a.OTELYTICS_COST_SOURCE] == "price_table"
    assert attrs[a.OTELYTICS_COST_PRICE_VERSION].startswith("genai-prices")


def test_anthropic_cost_with_cache_read_and_write(claude, fake, spans):
    fake.script(Reply(input_tokens=1200, output_tokens=7, cache_read_tokens=1000,
                      cache_creation_tokens=150))
    claude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS)
    want = _expected(CLAUDE, "anthropic", input_tokens=1200, cache_read_tokens=1000,
                     cache_write_tokens=150, output_tokens=7)
    assert one_span(spans).attributes[a.OTELYTICS_COST_USD] == pytest.approx(want, rel=1e-9)


def test_streamed_cost_and_cost_metrics(oai, fake, spans, metric_reader):
    model = "gpt-4.1-mini"
    base = {"gen_ai__request__model": model, "gen_ai__operation__name": "chat"}
    before = point(metric_reader, m.OTELYTICS_LLM_COST.name, **base)
    before_n = point(metric_reader, m.OTELYTICS_LLM_COST_PER_CALL.name, **base)
    fake.script(Reply(text="a b c", input_tokens=800, output_tokens=120))
    list(oai.chat.completions.create(model=model, messages=MSGS, stream=True,
                                     stream_options={"include_usage": True}))
    want = _expected(model, "openai", input_tokens=800, output_tokens=120)
    assert one_span(spans).attributes[a.OTELYTICS_COST_USD] == pytest.approx(want, rel=1e-9)
    total = point(metric_reader, m.OTELYTICS_LLM_COST.name, **base)
    hist = point(metric_reader, m.OTELYTICS_LLM_COST_PER_CALL.name, **base)
    assert total.value - (before.value if before else 0) == pytest.approx(want, rel=1e-9)
    assert hist.count - (before_n.count if before_n else 0) == 1
    assert tuple(hist.explicit_bounds) == m.OTELYTICS_LLM_COST_PER_CALL.bucket_boundaries
    # a per-call cost lands in a real bucket, not all in the first
    assert hist.explicit_bounds[0] < want


def test_unknown_model_is_unpriced_and_counted(oai, fake, spans, metric_reader):
    model = "brand-new-model-9000"
    fake.script(Reply(input_tokens=10, output_tokens=2))
    oai.chat.completions.create(model=model, messages=MSGS)
    attrs = one_span(spans).attributes
    assert attrs[a.OTELYTICS_COST_SOURCE] == "unpriced"
    assert a.OTELYTICS_COST_USD not in attrs
    assert point(metric_reader, m.OTELYTICS_LLM_UNPRICED_CALLS.name,
                 gen_ai__request__model=model).value == 1


def test_rollup_cost_on_workflow_and_session(oai, fake, spans):
    model = "gpt-4o-mini"
    fake.script(Reply(input_tokens=1000, output_tokens=100),
                Reply(input_tokens=500, output_tokens=50),
                Reply(input_tokens=5, output_tokens=5, model="unknown-xyz"))

    @otelytics.workflow
    def pipeline():
        oai.chat.completions.create(model=model, messages=MSGS)
        oai.chat.completions.create(model=model, messages=MSGS)
        oai.chat.completions.create(model="unknown-xyz", messages=MSGS)

    with otelytics.session("chat", user_id="u1"):
        pipeline()
    want = (_expected(model, "openai", input_tokens=1000, output_tokens=100)
            + _expected(model, "openai", input_tokens=500, output_tokens=50))
    by_name = {s.name: s for s in spans.get_finished_spans()}
    wf = next(s for n, s in by_name.items() if n.endswith("pipeline"))
    assert wf.attributes[a.OTELYTICS_ROLLUP_COST_USD] == pytest.approx(want, rel=1e-9)
    assert wf.attributes[a.OTELYTICS_ROLLUP_UNPRICED_CALLS] == 1
    assert wf.attributes[a.OTELYTICS_ROLLUP_LLM_CALLS] == 3
    sess = next(s for s in spans.get_finished_spans()
                if s.attributes.get(a.OTELYTICS_SPAN_TYPE) == "session")
    assert sess.attributes[a.OTELYTICS_ROLLUP_COST_USD] == pytest.approx(want, rel=1e-9)
