"""The real ``anthropic`` client against FakeLLMServer, instrumented."""

from __future__ import annotations

import asyncio
import gc

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from otelytics.llm.anthropic import AnthropicInstrumentor
from otelytics.semconv import attributes as a
from otelytics.testing import ErrorReply, Reply, ToolCall
from tests.llm.conftest import CLAUDE, MSGS, llm_spans, one_span

CACHED = Reply(text="Paris.", input_tokens=1200, output_tokens=7, cache_read_tokens=1000,
               cache_creation_tokens=150)


def _check_cached_usage(span):
    attrs = span.attributes
    # GenAI meaning: input includes cache reads and writes (Anthropic's own figure excludes them)
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
    assert attrs[a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 150
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 7


def test_messages_create(claude, fake, spans):
    fake.script(CACHED)
    out = claude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS,
                                 stop_sequences=["END"])
    assert out.usage.input_tokens == 50  # what Anthropic reports: cache excluded
    span = one_span(spans)
    assert span.name == f"chat {CLAUDE}"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == "otelytics"
    assert span.attributes[a.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert span.attributes[a.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert span.attributes[a.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a.GEN_AI_REQUEST_TEMPERATURE not in span.attributes
    assert span.attributes[a.GEN_AI_RESPONSE_ID] == out.id
    assert span.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    _check_cached_usage(span)


def test_stream_true_chunk_by_chunk(claude, fake, spans):
    fake.script(CACHED)
    events = list(claude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS,
                                         stream=True))
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    span = one_span(spans)
    _check_cached_usage(span)
    assert span.attributes[a.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_stream_helper_and_tool_calls(claude, fake, spans):
    fake.script(Reply(tool_calls=[ToolCall("lookup", {"q": "x"}, id="toolu_9")],
                      input_tokens=20, output_tokens=12))
    with claude.messages.stream(model=CLAUDE, max_tokens=64, messages=MSGS) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    span = one_span(spans)
    assert span.attributes[a.OTELYTICS_RESPONSE_TOOL_CALL_NAMES] == ("lookup",)
    assert span.attributes[a.OTELYTICS_RESPONSE_TOOL_CALL_IDS] == ("toolu_9",)
    assert span.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert span.attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 12


def test_stream_helper_early_exit_ends_span(claude, fake, spans):
    fake.script(Reply(text="a b c d e f g"))
    outer = trace.get_current_span()
    with claude.messages.stream(model=CLAUDE, max_tokens=64, messages=MSGS) as stream:
        for _ in stream.text_stream:
            break
    assert len(llm_spans(spans)) == 1
    assert trace.get_current_span() is outer


def test_abandoned_stream_ends_at_gc(claude, fake, spans):
    fake.script(Reply(text="a b c d e f g"))
    s = claude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS, stream=True)
    next(iter(s))
    assert llm_spans(spans) == []
    del s
    gc.collect()
    assert one_span(spans).end_time is not None


def test_async_create_stream_and_helper(aclaude, fake, spans):
    fake.script(CACHED, CACHED, CACHED)

    async def main():
        await aclaude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS)
        s = await aclaude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS,
                                          stream=True)
        [e async for e in s]
        async with aclaude.messages.stream(model=CLAUDE, max_tokens=64, messages=MSGS) as st:
            text = "".join([t async for t in st.text_stream])
        await aclaude.close()
        return text

    assert asyncio.run(main()) == "Paris."
    got = llm_spans(spans)
    assert len(got) == 3
    for span in got:
        _check_cached_usage(span)


@pytest.mark.parametrize(("reply", "exc_type"), [
    (ErrorReply(400), anthropic.BadRequestError),
    (ErrorReply(401), anthropic.AuthenticationError),
    (ErrorReply(429, retry_after=0), anthropic.RateLimitError),
    (ErrorReply(500), anthropic.InternalServerError),
    (Reply(drop_after=0), anthropic.APIConnectionError),
])
def test_errors(claude, fake, spans, reply, exc_type):
    fake.script(reply)
    with pytest.raises(exc_type):
        claude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS)
    span = one_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[a.ERROR_TYPE] == exc_type.__qualname__


def test_own_telemetry_on_means_one_span(fake, spans, metric_reader):
    """anthropic 2.x emits its own span: we add none, yet still learn the usage."""
    import otelytics

    fake.script(CACHED, CACHED)
    with anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="k",
                             max_retries=0) as c:  # telemetry on: the SDK default

        @otelytics.track
        def turn():
            c.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS)
            with c.messages.stream(model=CLAUDE, max_tokens=64, messages=MSGS) as s:
                s.get_final_message()

        turn()
    got = llm_spans(spans)
    assert len(got) == 2
    assert {s.instrumentation_scope.name for s in got} == {"com.anthropic.sdk.python"}
    outer = next(s for s in spans.get_finished_spans() if s.name.endswith("turn"))
    assert outer.attributes[a.OTELYTICS_ROLLUP_LLM_CALLS] == 2
    assert outer.attributes[a.OTELYTICS_ROLLUP_INPUT_TOKENS] == 2400


def test_own_telemetry_span_is_enriched_with_our_attributes(fake, spans):
    """Issue 4: the single (anthropic) span carries our attributes, not only the cost."""
    fake.script(CACHED, CACHED, CACHED)
    with anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="k",
                             max_retries=0) as c:  # telemetry on: the SDK default
        c.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS)
        for _ in c.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS, stream=True):
            pass
        with c.messages.stream(model=CLAUDE, max_tokens=64, messages=MSGS) as s:
            s.get_final_message()
    got = sorted(llm_spans(spans), key=lambda s: s.start_time)
    assert len(got) == 3  # one span per call, all anthropic's
    assert {s.instrumentation_scope.name for s in got} == {"com.anthropic.sdk.python"}
    fps = {s.attributes[a.OTELYTICS_REQUEST_FINGERPRINT] for s in got}
    assert len(fps) == 1 and len(fps.pop()) == 32  # same request, same fingerprint
    for span in got:
        assert span.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
        assert span.attributes[a.OTELYTICS_COST_SOURCE] == "price_table"
        assert span.attributes[a.OTELYTICS_COST_USD] > 0
        _check_cached_usage(span)
    for stream_span in got[1:]:
        assert stream_span.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_own_telemetry_span_is_enriched_async(fake, spans):
    fake.script(Reply(text="cut", input_tokens=40, output_tokens=64, finish_reason="max_tokens"))

    async def call():
        async with anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="k",
                                            max_retries=0) as c:
            stream = await c.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS,
                                             stream=True)
            async for _ in stream:
                pass

    asyncio.run(call())
    span = one_span(spans)
    assert span.instrumentation_scope.name == "com.anthropic.sdk.python"
    assert len(span.attributes[a.OTELYTICS_REQUEST_FINGERPRINT]) == 32
    assert span.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert span.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert span.attributes[a.OTELYTICS_COST_USD] > 0


def test_uninstrument_restores(claude, fake, spans):
    inst = AnthropicInstrumentor()
    inst.uninstrument()
    try:
        claude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS)
        assert llm_spans(spans) == []
    finally:
        inst.instrument()
    claude.messages.create(model=CLAUDE, max_tokens=64, messages=MSGS)
    assert len(llm_spans(spans)) == 1


def test_raw_response_variants(claude, fake, spans):
    fake.script(CACHED, CACHED)
    raw = claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=MSGS)
    assert raw.parse().usage.cache_read_input_tokens == 1000
    with claude.messages.with_streaming_response.create(model=CLAUDE, max_tokens=64,
                                                        messages=MSGS) as r:
        assert b"Paris." in b"".join(r.iter_bytes())  # the app's to read; we watch it pass
    first, second = sorted(llm_spans(spans), key=lambda s: s.start_time)
    _check_cached_usage(first)
    _check_cached_usage(second)


def test_stream_usage_delta_with_null_cache_figures_keeps_the_start_ones(spans):
    """A message_delta that repeats input_tokens but leaves the cache figures null must not
    drop the cache tokens message_start reported."""
    from anthropic.types import MessageDeltaUsage, Usage

    from otelytics.llm import _core
    from otelytics.llm.anthropic import _usage

    inv = _core.begin("anthropic", "chat", CLAUDE)
    _usage(inv, Usage(input_tokens=50, output_tokens=1, cache_read_input_tokens=1000,
                      cache_creation_input_tokens=150))
    _usage(inv, MessageDeltaUsage(input_tokens=50, output_tokens=7,
                                  cache_read_input_tokens=None,
                                  cache_creation_input_tokens=None, server_tool_use=None))
    inv.end()
    _check_cached_usage(one_span(spans))
