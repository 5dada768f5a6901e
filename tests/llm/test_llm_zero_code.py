"""Zero-code: ``opentelemetry-instrument python examples/llm_app.py``; dedupe and gating."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from opentelemetry import trace
from opentelemetry.trace import SpanKind

import otelytics
from otelytics.llm.openai import OpenAIInstrumentor
from otelytics.semconv import attributes as a
from otelytics.testing import Reply
from tests.conftest import ROOT
from tests.llm.conftest import GPT, MSGS, llm_spans

INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))


def _console_spans(stdout: str) -> list[dict]:
    return [json.loads(block) for block in re.findall(r"^\{.*?^\}", stdout, re.S | re.M)]


def test_example_app_under_opentelemetry_instrument(python_run):
    env = {
        "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none", "OTELYTICS_FINGERPRINT_KEY": "example",
        # the official OpenAI instrumentation, if installed, would own the spans (see dedupe)
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",
    }
    proc = python_run(str(ROOT / "examples" / "llm_app.py"), env=env, prefix=[INSTRUMENT],
                      timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Retried fine." in proc.stdout  # the app ran as usual
    got = _console_spans(proc.stdout)
    chats = [s for s in got if s["name"] == f"chat {GPT}"]
    assert len(chats) == 10  # one span per call, the 429 retry included
    assert all(s["kind"] == "SpanKind.CLIENT" for s in chats)
    assert all(s["attributes"][a.OTELYTICS_COST_SOURCE] == "price_table" for s in chats)
    assert all(s["attributes"][a.OTELYTICS_COST_USD] > 0 for s in chats)
    tool = [s for s in chats if a.OTELYTICS_RESPONSE_TOOL_CALL_NAMES in s["attributes"]]
    assert [s["attributes"][a.OTELYTICS_RESPONSE_TOOL_CALL_NAMES] for s in tool] == [
        ["get_weather"]]
    # anthropic 2.x traces itself: its span is the one span of that call
    claude = [s for s in got if "anthropic" in s["name"] or
              s["attributes"].get(a.GEN_AI_PROVIDER_NAME) == "anthropic"]
    assert len(claude) == 4
    cached = [s for s in claude if s["attributes"][a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]]
    assert len(cached) == 1
    assert cached[0]["attributes"][a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1800
    # the workload otelytics suggest acts on: 5 identical FAQ requests (one fingerprint) ...
    fps = [s["attributes"][a.OTELYTICS_REQUEST_FINGERPRINT] for s in chats]
    assert max(fps.count(fp) for fp in fps) == 5
    # ... and 3 Anthropic answers cut at max_tokens, on anthropic's own spans
    assert sorted(tuple(s["attributes"][a.GEN_AI_RESPONSE_FINISH_REASONS]) for s in claude) \
        == [("end_turn",)] + [("max_tokens",)] * 3
    # ... and the enrichment processor the distro installs priced it
    import genai_prices

    want = genai_prices.calc_price(genai_prices.Usage(
        input_tokens=2100, cache_read_tokens=1800, cache_write_tokens=250, output_tokens=6),
        "claude-haiku-4-5", provider_id="anthropic").total_price
    assert abs(cached[0]["attributes"][a.OTELYTICS_COST_USD] - float(want)) < 1e-12
    assert "capital of France" not in proc.stdout.split("Retried fine.")[-1]  # no content


def test_foreign_genai_span_means_no_second_span(oai, fake, spans):
    """Another instrumentation's GenAI span around the call (official OpenAI instrumentation
    wrapping outside ours): we add no span, yet the enclosing call learns the usage."""
    fake.script(Reply(input_tokens=40, output_tokens=4))
    foreign = trace.get_tracer("opentelemetry.instrumentation.genai.openai")

    @otelytics.track
    def turn():
        with foreign.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT,
                                           attributes={a.GEN_AI_OPERATION_NAME: "chat"}):
            oai.chat.completions.create(model=GPT, messages=MSGS)

    turn()
    got = llm_spans(spans)
    assert [s.instrumentation_scope.name for s in got] == [
        "opentelemetry.instrumentation.genai.openai"]
    assert got[0].attributes[a.OTELYTICS_REQUEST_FINGERPRINT]  # ours, on their span
    assert got[0].attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    outer = next(s for s in spans.get_finished_spans() if s.name.endswith("turn"))
    assert outer.attributes[a.OTELYTICS_ROLLUP_INPUT_TOKENS] == 40


def test_dependency_gate_even_when_told_to_skip_the_check():
    """``opentelemetry-instrument`` passes skip_dep_check=True to every entry point of our
    distribution; each instrumentor still checks its own SDK."""

    class Missing(OpenAIInstrumentor):
        _instance = None  # BaseInstrumentor is a per-class singleton
        _requires = ("surely-not-installed-sdk >= 1.0",)

    inst = Missing()
    assert inst.instrument(skip_dep_check=True) is None
    assert not inst.is_instrumented_by_opentelemetry


def test_entry_points_registered():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert eps["otelytics_openai"] == "otelytics.llm.openai:OpenAIInstrumentor"
    assert eps["otelytics_anthropic"] == "otelytics.llm.anthropic:AnthropicInstrumentor"


def test_with_the_official_instrumentation_one_span_per_call(oai, fake, spans):
    """The official opentelemetry-instrumentation-genai-openai wrapping outside ours (its
    entry point loads after ours): its span is the call's only span; our roll-ups and the
    enrichment's cost still apply."""
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as Official

    official = Official()
    was_on = official.is_instrumented_by_opentelemetry
    if not was_on:
        official.instrument()
    try:
        fake.script(Reply(input_tokens=300, output_tokens=30),
                    Reply(text="a b", input_tokens=200, output_tokens=2))

        @otelytics.track
        def turn():
            oai.chat.completions.create(model=GPT, messages=MSGS)
            list(oai.chat.completions.create(model=GPT, messages=MSGS, stream=True,
                                             stream_options={"include_usage": True}))

        turn()
    finally:
        if not was_on:
            official.uninstrument()
    got = llm_spans(spans)
    assert [s.instrumentation_scope.name for s in got] == [
        "opentelemetry.instrumentation.genai.openai"] * 2
    assert all(s.attributes[a.OTELYTICS_COST_SOURCE] == "price_table" for s in got)
    # ... and our attributes on it (the repeated-calls suggestion needs the fingerprint)
    assert all(len(s.attributes[a.OTELYTICS_REQUEST_FINGERPRINT]) == 32 for s in got)
    outer = next(s for s in spans.get_finished_spans() if s.name.endswith("turn"))
    assert outer.attributes[a.OTELYTICS_ROLLUP_LLM_CALLS] == 2
    assert outer.attributes[a.OTELYTICS_ROLLUP_INPUT_TOKENS] == 500
