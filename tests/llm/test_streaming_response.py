"""``with_streaming_response`` calls: priced as the app reads them, the body left to the app.

The real ``openai`` and ``anthropic`` clients against FakeLLMServer. The span stays open while
the app holds the unread response and ends when the app has consumed it (``parse()``, the
parsed stream, ``iter_lines()`` / ``iter_bytes()`` / ``iter_text()``, ``read()``) or closed it.
"""

from __future__ import annotations

import asyncio
import gc
import re

import anthropic
import genai_prices
import openai
import pytest
from opentelemetry.trace import StatusCode

from otelytics.llm.anthropic import AnthropicInstrumentor
from otelytics.llm.openai import OpenAIInstrumentor
from otelytics.semconv import attributes as a
from otelytics.testing import Reply
from tests.llm.conftest import CLAUDE, GPT, MSGS, llm_spans, one_span

STREAM = {"stream": True, "stream_options": {"include_usage": True}}


def _cost(model, provider, **usage):
    calc = genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider)
    return float(calc.total_price)


def _check_priced(span, model, provider, inp, out):
    attrs = span.attributes
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == inp
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == out
    assert attrs[a.OTELYTICS_COST_SOURCE] == "price_table"
    want = _cost(model, provider, input_tokens=inp, output_tokens=out)
    assert attrs[a.OTELYTICS_COST_USD] == pytest.approx(want, rel=1e-9)


def _check_unpriced(span):
    assert a.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    assert a.OTELYTICS_COST_USD not in span.attributes
    assert span.attributes[a.OTELYTICS_COST_SOURCE] == "unpriced"


# --- OpenAI, non-streamed ---------------------------------------------------------------
def test_parse_is_priced_and_the_span_waits_for_it(oai, fake, spans):
    fake.script(Reply(text="Paris.", input_tokens=120, output_tokens=9))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS) as r:
        assert isinstance(r, openai.APIResponse)  # the proxy still passes isinstance
        assert llm_spans(spans) == []  # not read yet: still open
        out = r.parse()
        assert out is r.parse()  # the SDK's own cached parse, untouched
        assert len(llm_spans(spans)) == 1  # ended once the app had the result
    assert out.choices[0].message.content == "Paris."
    span = one_span(spans)
    _check_priced(span, GPT, "openai", 120, 9)
    assert span.attributes[a.GEN_AI_RESPONSE_ID] == out.id
    assert span.attributes[a.GEN_AI_RESPONSE_MODEL] == GPT
    assert span.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_async_parse_is_priced(aoai, fake, spans):
    fake.script(Reply(text="Paris.", input_tokens=120, output_tokens=9))

    async def main():
        async with aoai.chat.completions.with_streaming_response.create(
                model=GPT, messages=MSGS) as r:
            assert isinstance(r, openai.AsyncAPIResponse)
            return await r.parse()

    out = asyncio.run(main())
    assert out.choices[0].message.content == "Paris."
    _check_priced(one_span(spans), GPT, "openai", 120, 9)


@pytest.mark.parametrize("how", ["read", "text", "json", "iter_bytes", "iter_text",
                                 "iter_lines"])
def test_whole_body_read_any_way_is_priced(oai, fake, spans, how):
    fake.script(Reply(input_tokens=40, output_tokens=6))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS) as r:
        got = getattr(r, how)()
        if how.startswith("iter_"):
            got = list(got)
        assert len(llm_spans(spans)) == 1
    assert got
    _check_priced(one_span(spans), GPT, "openai", 40, 6)


def test_parse_to_a_type_of_the_apps_own(oai, fake, spans):
    fake.script(Reply(input_tokens=40, output_tokens=6))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS) as r:
        assert r.parse(to=dict)["usage"]["prompt_tokens"] == 40
    _check_priced(one_span(spans), GPT, "openai", 40, 6)


def test_embeddings_and_responses_parse(oai, fake, spans):
    fake.script(Reply(input_tokens=3), Reply(text="Hi.", input_tokens=11, output_tokens=2))
    with oai.embeddings.with_streaming_response.create(model="text-embedding-3-small",
                                                       input="hello") as r:
        assert len(r.parse().data[0].embedding) == 8
    with oai.responses.with_streaming_response.create(model=GPT, input="hi") as r:
        assert r.parse().output_text == "Hi."
    emb, chat = sorted(llm_spans(spans), key=lambda s: s.start_time)
    assert emb.attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert emb.attributes[a.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8
    _check_priced(chat, GPT, "openai", 11, 2)
    assert chat.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("completed",)


# --- OpenAI, stream=True ----------------------------------------------------------------
def test_stream_read_by_iter_lines(oai, fake, spans):
    fake.script(Reply(text="a b c", input_tokens=800, output_tokens=120))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                             **STREAM) as r:
        lines = []
        for line in r.iter_lines():
            lines.append(line)
            if len(lines) == 1:
                assert llm_spans(spans) == []  # open while the app reads
        assert len(llm_spans(spans)) == 1  # ended when the app's iteration ended
    assert lines[-2:] == ["data: [DONE]", ""] or "data: [DONE]" in lines
    span = one_span(spans)
    _check_priced(span, GPT, "openai", 800, 120)
    assert span.attributes[a.GEN_AI_RESPONSE_ID].startswith("chatcmpl-fake")
    assert span.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert span.attributes[a.GEN_AI_REQUEST_STREAM] is True


@pytest.mark.parametrize("how", ["iter_bytes", "iter_text", "read"])
def test_stream_read_as_bytes_or_text(oai, fake, spans, how):
    fake.script(Reply(text="a b c", input_tokens=80, output_tokens=12))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                             **STREAM) as r:
        got = getattr(r, how)()
        if how != "read":
            got = list(got)
    assert got
    _check_priced(one_span(spans), GPT, "openai", 80, 12)


def test_stream_read_by_parse(oai, fake, spans):
    fake.script(Reply(text="a b c", input_tokens=800, output_tokens=120))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                             **STREAM) as r:
        stream = r.parse()
        assert isinstance(stream, openai.Stream)
        assert stream is r.parse()  # parsing twice gives the same stream, as without us
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert len(llm_spans(spans)) == 1
    assert text == "a b c"
    span = one_span(spans)
    _check_priced(span, GPT, "openai", 800, 120)
    assert span.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_async_stream_by_iter_lines_and_parse(aoai, fake, spans):
    fake.script(Reply(text="a b c", input_tokens=800, output_tokens=120),
                Reply(text="d e", input_tokens=50, output_tokens=5))

    async def main():
        create = aoai.chat.completions.with_streaming_response.create
        async with create(model=GPT, messages=MSGS, **STREAM) as r:
            lines = [line async for line in r.iter_lines()]
        async with create(model=GPT, messages=MSGS, **STREAM) as r:
            stream = await r.parse()
            assert isinstance(stream, openai.AsyncStream)
            chunks = [c async for c in stream]
        return lines, chunks

    lines, chunks = asyncio.run(main())
    assert "data: [DONE]" in lines and chunks[-1].usage.prompt_tokens == 50
    first, second = sorted(llm_spans(spans), key=lambda s: s.start_time)
    _check_priced(first, GPT, "openai", 800, 120)
    _check_priced(second, GPT, "openai", 50, 5)
    assert first.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_responses_stream_by_iter_lines(oai, fake, spans):
    fake.script(Reply(text="Hi there.", input_tokens=30, output_tokens=4))
    with oai.responses.with_streaming_response.create(model=GPT, input="hi", stream=True) as r:
        for _ in r.iter_lines():
            pass
    span = one_span(spans)
    _check_priced(span, GPT, "openai", 30, 4)
    assert span.attributes[a.GEN_AI_RESPONSE_ID].startswith("resp_fake")


@pytest.mark.parametrize("capture", [False, True])
def test_raw_stream_output_content_when_captured(oai, fake, spans, monkeypatch, capture):
    """Capture on, events are built as the SDK's own models (exact); off, read as views."""
    from otelytics.llm import _settings

    if capture:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    _settings.refresh()
    fake.script(Reply(text="Hi there.", input_tokens=30, output_tokens=4))
    with oai.responses.with_streaming_response.create(model=GPT, input="hi", stream=True) as r:
        r.read()
    attrs = one_span(spans).attributes
    _check_priced(one_span(spans), GPT, "openai", 30, 4)
    assert ("Hi there." in attrs.get(a.GEN_AI_OUTPUT_MESSAGES, "")) is capture


def test_include_usage_opt_in_leaves_the_raw_bytes_alone(oai, fake, spans, monkeypatch):
    from otelytics.llm import _settings

    monkeypatch.setenv("OTELYTICS_OPENAI_INCLUDE_USAGE", "true")
    _settings.refresh()
    fake.script(Reply(text="a b"))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                             stream=True) as r:
        r.read()
    assert "stream_options" not in fake.requests[-1].body  # the app's bytes are its own
    assert one_span(spans).attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


# --- ends without a full read ------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_closed_unread_ends_unpriced(oai, fake, spans, stream):
    kw = STREAM if stream else {}
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                             **kw) as r:
        assert r.status_code == 200
    _check_unpriced(one_span(spans))
    resp = oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS)
    r = resp.__enter__()
    r.close()  # closed by hand, no with block
    assert len(llm_spans(spans)) == 2
    resp.__exit__(None, None, None)
    assert len(llm_spans(spans)) == 2


def test_async_closed_unread_ends_unpriced(aoai, fake, spans):
    async def main():
        async with aoai.chat.completions.with_streaming_response.create(
                model=GPT, messages=MSGS, **STREAM) as r:
            assert r.status_code == 200

    asyncio.run(main())
    _check_unpriced(one_span(spans))


def test_app_exception_inside_the_with_block(oai, fake, spans):
    boom = ValueError("the app's own")
    with pytest.raises(ValueError) as info:
        with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                                 **STREAM) as r:
            next(r.iter_lines())
            raise boom
    assert info.value is boom
    span = one_span(spans)
    assert span.end_time is not None
    assert span.status.status_code is not StatusCode.ERROR  # the app's, not the call's


def test_app_stops_reading_early_then_the_block_ends_it(oai, fake, spans):
    fake.script(Reply(text="a b c d e f", input_tokens=10, output_tokens=6))
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                             **STREAM) as r:
        for n, _ in enumerate(r.iter_lines()):
            if n == 3:  # two events in, of seven
                break
        assert llm_spans(spans) == []
    span = one_span(spans)
    assert span.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert span.attributes[a.GEN_AI_RESPONSE_ID].startswith("chatcmpl-fake")


def test_dropped_connection_mid_stream_marks_the_span(oai, fake, spans):
    fake.script(Reply(text="a b c d e f", drop_after=2))
    with pytest.raises(Exception):  # noqa: B017 - whatever the HTTP client raises
        with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS,
                                                                 **STREAM) as r:
            for _ in r.iter_lines():
                pass
    assert one_span(spans).status.status_code is StatusCode.ERROR


# --- the app sees the same bytes ----------------------------------------------------------
def _norm(data):
    return re.sub(rb"fake\d{6}", b"fakeN", data)


def _bodies(fake):
    # a fresh client: the SDK caches each resource's with_streaming_response wrappers
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)
    fake.script(Reply(text="a b c", input_tokens=8, output_tokens=3),
                Reply(text="a b c", input_tokens=8, output_tokens=3),
                Reply(text="d", input_tokens=2, output_tokens=1))
    create = client.chat.completions.with_streaming_response.create
    with create(model=GPT, messages=MSGS, **STREAM) as r:
        lines = "\n".join(r.iter_lines()).encode()
    with create(model=GPT, messages=MSGS, **STREAM) as r:
        chunks = b"".join(r.iter_bytes(7))
    with create(model=GPT, messages=MSGS) as r:
        text = r.text().encode()
    client.close()
    return [_norm(x) for x in (lines, chunks, text)]


def test_app_gets_the_same_bytes_as_uninstrumented(fake, spans):
    on = _bodies(fake)
    inst = OpenAIInstrumentor()
    inst.uninstrument()
    try:
        off = _bodies(fake)
    finally:
        inst.instrument()
    assert on == off
    assert len(llm_spans(spans)) == 3


# --- Anthropic ---------------------------------------------------------------------------
def test_anthropic_parse_and_stream(claude, fake, spans):
    fake.script(Reply(text="Paris.", input_tokens=100, output_tokens=7),
                Reply(text="a b c", input_tokens=60, output_tokens=3),
                Reply(text="d e", input_tokens=20, output_tokens=2))
    create = claude.messages.with_streaming_response.create
    with create(model=CLAUDE, max_tokens=64, messages=MSGS) as r:
        assert isinstance(r, anthropic.APIResponse)
        assert r.parse().content[0].text == "Paris."
    with create(model=CLAUDE, max_tokens=64, messages=MSGS, stream=True) as r:
        lines = list(r.iter_lines())
    with create(model=CLAUDE, max_tokens=64, messages=MSGS, stream=True) as r:
        events = [e.type for e in r.parse()]
    assert "event: message_stop" in lines and events[-1] == "message_stop"
    first, second, third = sorted(llm_spans(spans), key=lambda s: s.start_time)
    _check_priced(first, CLAUDE, "anthropic", 100, 7)
    _check_priced(second, CLAUDE, "anthropic", 60, 3)
    _check_priced(third, CLAUDE, "anthropic", 20, 2)
    assert second.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert second.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_anthropic_async_and_closed_unread(aclaude, fake, spans):
    fake.script(Reply(text="a b c", input_tokens=60, output_tokens=3))

    async def main():
        create = aclaude.messages.with_streaming_response.create
        async with create(model=CLAUDE, max_tokens=64, messages=MSGS, stream=True) as r:
            assert isinstance(r, anthropic.AsyncAPIResponse)
            body = b"".join([b async for b in r.iter_bytes()])
        async with create(model=CLAUDE, max_tokens=64, messages=MSGS) as r:
            pass
        return body

    assert b"message_stop" in asyncio.run(main())
    first, second = sorted(llm_spans(spans), key=lambda s: s.start_time)
    _check_priced(first, CLAUDE, "anthropic", 60, 3)
    _check_unpriced(second)


def test_anthropic_same_bytes_as_uninstrumented(fake, spans):
    def body():
        fake.script(Reply(text="a b c", input_tokens=6, output_tokens=3))
        with anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-test",
                                 max_retries=0, open_telemetry=False) as claude, \
                claude.messages.with_streaming_response.create(
                    model=CLAUDE, max_tokens=64, messages=MSGS, stream=True) as r:
            return _norm(b"".join(r.iter_bytes()))

    on = body()
    inst = AnthropicInstrumentor()
    inst.uninstrument()
    try:
        off = body()
    finally:
        inst.instrument()
    assert on == off
    assert len(llm_spans(spans)) == 1


def test_dropped_without_close_ends_when_collected(oai, fake, spans):
    manager = oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS)
    r = manager.__enter__()
    assert llm_spans(spans) == []
    r.http_response.close()  # the app's own clean-up, behind our back
    del manager, r
    gc.collect()
    _check_unpriced(one_span(spans))


# --- with_raw_response + stream=True: the parse() stream is priced as the app iterates ---
def test_raw_response_stream_is_priced_as_the_app_iterates(oai, fake, spans):
    fake.script(Reply(text="a b c", input_tokens=40, output_tokens=3),
                Reply(text="d e", input_tokens=20, output_tokens=2))
    raw = oai.chat.completions.with_raw_response.create(model=GPT, messages=MSGS, **STREAM)
    assert isinstance(raw, openai._legacy_response.LegacyAPIResponse)
    assert raw.headers.get("content-type", "").startswith("text/event-stream")
    assert llm_spans(spans) == []  # nothing read yet
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "a b c"
    _check_priced(one_span(spans), GPT, "openai", 40, 3)
    # closed after two chunks: the span ends with what was seen, exactly one span
    raw = oai.chat.completions.with_raw_response.create(model=GPT, messages=MSGS, **STREAM)
    stream = raw.parse()
    next(iter(stream))
    stream.close()
    assert len(llm_spans(spans)) == 2


def test_async_raw_response_stream_is_priced(aoai, fake, spans):
    fake.script(Reply(text="x y", input_tokens=30, output_tokens=2))

    async def main():
        raw = await aoai.chat.completions.with_raw_response.create(
            model=GPT, messages=MSGS, **STREAM)
        return [c async for c in raw.parse()]

    chunks = asyncio.run(main())
    assert chunks[-1].usage.prompt_tokens == 30
    _check_priced(one_span(spans), GPT, "openai", 30, 2)


def test_anthropic_raw_response_stream_is_priced(claude, fake, spans):
    fake.script(Reply(text="a b", input_tokens=25, output_tokens=2))
    raw = claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=MSGS,
                                                   stream=True)
    events = [e.type for e in raw.parse()]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    _check_priced(one_span(spans), CLAUDE, "anthropic", 25, 2)


def test_anthropic_async_raw_response_parse_is_priced(aclaude, fake, spans):
    fake.script(Reply(text="Paris.", input_tokens=44, output_tokens=3))

    async def main():
        raw = await aclaude.messages.with_raw_response.create(model=CLAUDE, max_tokens=64,
                                                             messages=MSGS)
        return await raw.parse()

    assert asyncio.run(main()).content[0].text == "Paris."
    _check_priced(one_span(spans), CLAUDE, "anthropic", 44, 3)
