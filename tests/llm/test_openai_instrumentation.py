"""The real ``openai`` client against FakeLLMServer, instrumented: spans, tokens, errors."""

from __future__ import annotations

import asyncio
import json

import httpx2
import openai
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import otelytics
from otelytics.llm import _settings
from otelytics.llm.openai import OpenAIInstrumentor
from otelytics.semconv import attributes as a
from otelytics.testing import ErrorReply, Reply, ToolCall
from tests.llm.conftest import GPT, MSGS, llm_spans, one_span


def _uninstrumented(fn):
    """Run ``fn`` with the OpenAI instrumentation removed, then put it back."""
    inst = OpenAIInstrumentor()
    inst.uninstrument()
    try:
        return fn()
    finally:
        inst.instrument()


def _strip_ids(d):
    d = dict(d)
    d.pop("id", None)
    return d


def test_chat_span_attributes_and_usage(oai, fake, spans):
    fake.script(Reply(text="Paris.", input_tokens=120, output_tokens=9, cache_read_tokens=100,
                      reasoning_tokens=4))
    out = oai.chat.completions.create(model=GPT, messages=MSGS, temperature=0.2, max_tokens=50,
                                      stop=["\n"], seed=7)
    assert out.choices[0].message.content == "Paris."
    span = one_span(spans)
    attrs = dict(span.attributes)
    assert span.name == f"chat {GPT}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[a.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[a.GEN_AI_REQUEST_MODEL] == GPT
    assert attrs[a.GEN_AI_RESPONSE_MODEL] == GPT
    assert attrs[a.GEN_AI_RESPONSE_ID] == out.id
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[a.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[a.SERVER_PORT] == fake.port
    assert attrs[a.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attrs[a.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attrs[a.GEN_AI_REQUEST_STOP_SEQUENCES] == ("\n",)
    assert attrs[a.GEN_AI_REQUEST_SEED] == 7
    # parameters not passed are not invented
    for absent in (a.GEN_AI_REQUEST_TOP_P, a.GEN_AI_REQUEST_PRESENCE_PENALTY,
                   a.GEN_AI_REQUEST_FREQUENCY_PENALTY, a.GEN_AI_REQUEST_STREAM,
                   a.GEN_AI_REQUEST_CHOICE_COUNT):
        assert absent not in attrs
    # cached tokens inside input, never twice; reasoning inside output
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 120 == out.usage.prompt_tokens
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 9
    assert attrs[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 4
    assert a.OTELYTICS_USAGE_ESTIMATED not in attrs
    assert len(attrs[a.OTELYTICS_REQUEST_FINGERPRINT]) == 32
    # privacy by default: no content anywhere on the span
    assert a.GEN_AI_INPUT_MESSAGES not in attrs and a.GEN_AI_OUTPUT_MESSAGES not in attrs
    assert "capital of France" not in repr(attrs)


def test_app_sees_the_same_response(oai, fake, spans):
    reply = Reply(text="Same either way", input_tokens=10, output_tokens=3)
    fake.script(reply)
    with_inst = oai.chat.completions.create(model=GPT, messages=MSGS)
    fake.script(reply)
    without = _uninstrumented(lambda: oai.chat.completions.create(model=GPT, messages=MSGS))
    assert type(with_inst) is type(without)
    assert _strip_ids(with_inst.model_dump()) == _strip_ids(without.model_dump())


def test_stream_with_usage_chunk_by_chunk(oai, fake, spans):
    reply = Reply(text="one two three four", input_tokens=30, output_tokens=4,
                  cache_read_tokens=10)
    fake.script(reply)
    kw = dict(model=GPT, messages=MSGS, stream=True, stream_options={"include_usage": True})
    stream = oai.chat.completions.create(**kw)
    assert isinstance(stream, openai.Stream)
    got = [(c.choices[0].delta.content if c.choices else None, c.usage is not None)
           for c in stream]
    fake.script(reply)
    expected = _uninstrumented(lambda: [
        (c.choices[0].delta.content if c.choices else None, c.usage is not None)
        for c in oai.chat.completions.create(**kw)])
    assert got == expected
    span = one_span(spans)
    attrs = dict(span.attributes)
    assert attrs[a.GEN_AI_REQUEST_STREAM] is True
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 30
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 10
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    ttfc = attrs[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9
    assert a.OTELYTICS_USAGE_ESTIMATED not in attrs
    assert not span.events  # no per-chunk events


def test_stream_without_usage_is_estimated(oai, fake, spans):
    fake.script(Reply(text="alpha beta gamma delta", usage=False))
    text = "".join(c.choices[0].delta.content or "" for c in
                   oai.chat.completions.create(model=GPT, messages=MSGS, stream=True))
    assert text == "alpha beta gamma delta"
    attrs = dict(one_span(spans).attributes)
    assert attrs[a.OTELYTICS_USAGE_ESTIMATED] is True
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_include_usage_opt_in_adds_option_and_hides_the_extra_chunk(oai, fake, spans,
                                                                      monkeypatch):
    reply = Reply(text="a b c", input_tokens=11, output_tokens=3)
    fake.script(reply)
    plain = _uninstrumented(lambda: [
        c.model_dump(exclude={"id"}) for c in
        oai.chat.completions.create(model=GPT, messages=MSGS, stream=True)])
    monkeypatch.setenv("OTELYTICS_OPENAI_INCLUDE_USAGE", "true")
    _settings.refresh()
    fake.script(reply)
    seen = [c.model_dump(exclude={"id"}) for c in
            oai.chat.completions.create(model=GPT, messages=MSGS, stream=True)]
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}
    assert seen == plain  # the app sees exactly the chunks it asked for
    attrs = dict(one_span(spans).attributes)
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert a.OTELYTICS_USAGE_ESTIMATED not in attrs


def test_tool_calls_recorded(oai, fake, spans):
    calls = [ToolCall("get_weather", {"city": "Paris"}, id="call_1"),
             ToolCall("search", {"q": "x"}, id="call_2")]
    fake.script(Reply(tool_calls=calls), Reply(tool_calls=calls))
    out = oai.chat.completions.create(model=GPT, messages=MSGS)
    assert [t.function.name for t in out.choices[0].message.tool_calls] == ["get_weather",
                                                                           "search"]
    list(oai.chat.completions.create(model=GPT, messages=MSGS, stream=True))
    got = llm_spans(spans)
    assert len(got) == 2
    for span in got:
        assert span.attributes[a.OTELYTICS_RESPONSE_TOOL_CALL_NAMES] == ("get_weather", "search")
        assert span.attributes[a.OTELYTICS_RESPONSE_TOOL_CALL_IDS] == ("call_1", "call_2")
        assert span.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


@pytest.mark.parametrize("exit_path", ["break", "close", "with_break", "gc", "caller_raises"])
def test_stream_span_ends_on_every_exit_path(oai, fake, spans, exit_path):
    fake.script(Reply(text="w1 w2 w3 w4 w5 w6", input_tokens=5, output_tokens=6))
    outer = trace.get_current_span()

    def consume():
        stream = oai.chat.completions.create(model=GPT, messages=MSGS, stream=True)
        if exit_path == "break":
            for _ in stream:
                break
            return stream
        if exit_path == "close":
            next(stream)
            stream.close()
            return stream
        if exit_path == "with_break":
            with stream as s:
                for _ in s:
                    break
            return stream
        if exit_path == "gc":
            next(stream)
            del stream
            return None
        if exit_path == "caller_raises":
            with pytest.raises(KeyError):
                with stream as s:
                    for _ in s:
                        raise KeyError("app bug")
            return stream
        raise AssertionError(exit_path)

    kept = consume()
    if exit_path in ("close", "with_break", "caller_raises"):
        assert len(llm_spans(spans)) == 1  # ended at once, not at GC
    elif exit_path == "break":
        assert llm_spans(spans) == []  # the app may still read on
    del kept
    span = one_span(spans)
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert trace.get_current_span() is outer  # no context leaked into the app


def test_stream_error_mid_way_propagates_and_marks_span(oai, fake, spans):
    fake.script(Reply(text="a b c d e f", drop_after=3))
    stream = oai.chat.completions.create(model=GPT, messages=MSGS, stream=True)
    received = []
    with pytest.raises(Exception) as err:
        for chunk in stream:
            received.append(chunk)
    assert received  # it failed in the middle, after some chunks
    span = one_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[a.ERROR_TYPE] == type(err.value).__qualname__


@pytest.mark.parametrize(("reply", "exc_type", "etype"), [
    (ErrorReply(400), openai.BadRequestError, "BadRequestError"),
    (ErrorReply(401), openai.AuthenticationError, "AuthenticationError"),
    (ErrorReply(429, retry_after=0), openai.RateLimitError, "RateLimitError"),
    (ErrorReply(500), openai.InternalServerError, "InternalServerError"),
    (Reply(drop_after=0), openai.APIConnectionError, "APIConnectionError"),
])
def test_errors_reach_the_app_unchanged(oai, fake, spans, reply, exc_type, etype):
    fake.script(reply)
    with pytest.raises(exc_type) as with_inst:
        oai.chat.completions.create(model=GPT, messages=MSGS)
    span = one_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[a.ERROR_TYPE] == etype
    assert a.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    fake.script(reply)
    with pytest.raises(exc_type) as without:
        _uninstrumented(lambda: oai.chat.completions.create(model=GPT, messages=MSGS))
    assert str(with_inst.value) == str(without.value)


def test_timeout(fake, spans):
    fake.script(Reply(delay=2.0))
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0,
                       timeout=httpx2.Timeout(0.2)) as c, pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model=GPT, messages=MSGS)
    assert one_span(spans).attributes[a.ERROR_TYPE] == "APITimeoutError"


def test_retry_after_429_is_one_call(fake, spans):
    fake.script(ErrorReply(429, retry_after=0), Reply(text="ok", input_tokens=3,
                                                      output_tokens=1))
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=2) as c:
        out = c.chat.completions.create(model=GPT, messages=MSGS)
    assert out.choices[0].message.content == "ok"
    assert len(fake.requests) == 2
    span = one_span(spans)
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 3


def test_async_chat_and_stream(aoai, fake, spans):
    fake.script(Reply(text="x y", input_tokens=4, output_tokens=2),
                Reply(text="p q r", input_tokens=5, output_tokens=3))

    async def main():
        r = await aoai.chat.completions.create(model=GPT, messages=MSGS)
        s = await aoai.chat.completions.create(model=GPT, messages=MSGS, stream=True,
                                               stream_options={"include_usage": True})
        assert isinstance(s, openai.AsyncStream)
        parts = [c.choices[0].delta.content async for c in s if c.choices]
        await aoai.close()
        return r, parts

    r, parts = asyncio.run(main())
    assert r.choices[0].message.content == "x y"
    assert "".join(p or "" for p in parts) == "p q r"
    got = sorted(llm_spans(spans), key=lambda s: s.start_time)
    assert [s.attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] for s in got] == [2, 3]
    assert a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in got[1].attributes


def test_async_stream_break_and_context_manager(aoai, fake, spans):
    fake.script(Reply(text="a b c d"), Reply(text="a b c d"))

    async def main():
        s = await aoai.chat.completions.create(model=GPT, messages=MSGS, stream=True)
        async for _ in s:
            break
        await s.close()
        async with await aoai.chat.completions.create(model=GPT, messages=MSGS,
                                                      stream=True) as s2:
            async for _ in s2:
                break
        await aoai.close()

    asyncio.run(main())
    assert len(llm_spans(spans)) == 2


def test_stream_helper_and_parse_make_one_span_each(oai, fake, spans):
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    fake.script(Reply(text="one two", input_tokens=6, output_tokens=2),
                Reply(text='{"name": "Paris"}', input_tokens=8, output_tokens=5))
    with oai.chat.completions.stream(model=GPT, messages=MSGS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "one two"
    assert len(llm_spans(spans)) == 1  # ended when the with block closed
    parsed = oai.chat.completions.parse(model=GPT, messages=MSGS, response_format=City)
    assert parsed.choices[0].message.parsed == City(name="Paris")
    got = sorted(llm_spans(spans), key=lambda s: s.start_time)
    assert len(got) == 2
    assert got[0].attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert got[1].attributes[a.GEN_AI_OUTPUT_TYPE] == "json"
    assert got[1].attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 8


def test_responses_create_and_stream(oai, fake, spans):
    fake.script(Reply(text="hi there", input_tokens=12, output_tokens=2, cache_read_tokens=4),
                Reply(text="streamed words here", input_tokens=9, output_tokens=3))
    r = oai.responses.create(model=GPT, input="hello", max_output_tokens=30)
    assert r.output_text == "hi there"
    events = [e.type for e in oai.responses.create(model=GPT, input="hello", stream=True)]
    assert events[-1] == "response.completed"
    first, second = sorted(llm_spans(spans), key=lambda s: s.start_time)
    assert first.attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert first.attributes[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4
    assert first.attributes[a.GEN_AI_REQUEST_MAX_TOKENS] == 30
    assert first.attributes[a.GEN_AI_RESPONSE_ID] == r.id
    assert second.attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert second.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("completed",)
    assert a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in second.attributes


def test_embeddings(oai, fake, spans):
    fake.script(Reply(input_tokens=5, embedding_dimensions=16))
    out = oai.embeddings.create(model="text-embedding-3-small", input="hello world")
    assert len(out.data[0].embedding) == 16
    span = one_span(spans)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes[a.GEN_AI_OPERATION_NAME] == "embeddings"
    assert span.attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert span.attributes[a.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 16
    assert a.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes


def test_azure_and_compatible_provider_names(fake, spans):
    with openai.AzureOpenAI(azure_endpoint=fake.base_url, api_key="k", api_version="2024-10-21",
                            max_retries=0) as az:
        az.chat.completions.create(model="my-deployment", messages=MSGS)
    assert one_span(spans).attributes[a.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"


def test_instrument_twice_and_uninstrument(oai, fake, spans):
    OpenAIInstrumentor().instrument()  # already instrumented: a no-op
    OpenAIInstrumentor()._instrument()  # even a second raw pass adds no wrapper
    oai.chat.completions.create(model=GPT, messages=MSGS)
    assert len(llm_spans(spans)) == 1
    spans.clear()
    _uninstrumented(lambda: oai.chat.completions.create(model=GPT, messages=MSGS))
    assert llm_spans(spans) == []
    oai.chat.completions.create(model=GPT, messages=MSGS)
    assert len(llm_spans(spans)) == 1


def test_parent_child_and_rollup(oai, fake, spans):
    fake.script(Reply(input_tokens=10, output_tokens=2), Reply(input_tokens=20, output_tokens=3))

    @otelytics.track
    def answer():
        oai.chat.completions.create(model=GPT, messages=MSGS)
        oai.chat.completions.create(model=GPT, messages=MSGS)

    answer()
    outer = next(s for s in spans.get_finished_spans() if s.name.endswith("answer"))
    calls = llm_spans(spans)
    assert len(calls) == 2
    assert all(c.parent.span_id == outer.context.span_id for c in calls)
    assert outer.attributes[a.OTELYTICS_ROLLUP_LLM_CALLS] == 2
    assert outer.attributes[a.OTELYTICS_ROLLUP_INPUT_TOKENS] == 30
    assert outer.attributes[a.OTELYTICS_ROLLUP_OUTPUT_TOKENS] == 5


def test_content_capture_on_request(oai, fake, spans, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    monkeypatch.setenv("OTELYTICS_MAX_CONTENT_LENGTH", "120")
    _settings.refresh()
    fake.script(Reply(text="Paris is the capital of France. " * 10))
    oai.chat.completions.create(model=GPT, messages=MSGS)
    attrs = one_span(spans).attributes
    assert "capital of France?" in attrs[a.GEN_AI_INPUT_MESSAGES]
    assert attrs[a.GEN_AI_OUTPUT_MESSAGES].startswith('[{"role": "assistant"')
    out = attrs[a.GEN_AI_OUTPUT_MESSAGES]
    assert len(out) <= 120  # size-capped, and still valid JSON
    assert json.loads(out)[0]["parts"][0]["content"].endswith("…")


def test_fingerprint_identifies_identical_requests_only(oai, fake, spans, monkeypatch):
    oai.chat.completions.create(model=GPT, messages=MSGS, temperature=0)
    oai.chat.completions.create(model=GPT, messages=MSGS, temperature=0)
    oai.chat.completions.create(model=GPT, messages=MSGS, temperature=1)
    oai.chat.completions.create(model=GPT, messages=[{"role": "user", "content": "other"}],
                                temperature=0)
    monkeypatch.setenv("OTELYTICS_FINGERPRINT_KEY", "another-key")
    _settings.refresh()
    oai.chat.completions.create(model=GPT, messages=MSGS, temperature=0)
    fps = [s.attributes[a.OTELYTICS_REQUEST_FINGERPRINT]
           for s in sorted(llm_spans(spans), key=lambda s: s.start_time)]
    assert fps[0] == fps[1]
    assert len(set(fps[1:])) == 4


def test_suppressed_instrumentation_records_nothing(oai, fake, spans):
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        oai.chat.completions.create(model=GPT, messages=MSGS)
    otelytics.disable()
    try:
        oai.chat.completions.create(model=GPT, messages=MSGS)
    finally:
        otelytics.enable()
    assert llm_spans(spans) == []


def test_async_responses_stream_and_embeddings(aoai, fake, spans):
    fake.script(Reply(text="async words", input_tokens=7, output_tokens=2),
                Reply(input_tokens=3, embedding_dimensions=4))

    async def main():
        s = await aoai.responses.create(model=GPT, input="hi", stream=True)
        kinds = [e.type async for e in s]
        e = await aoai.embeddings.create(model="text-embedding-3-small", input="x")
        await aoai.close()
        return kinds, e

    kinds, emb = asyncio.run(main())
    assert kinds[-1] == "response.completed" and len(emb.data[0].embedding) == 4
    chat, embed = sorted(llm_spans(spans), key=lambda s: s.start_time)
    assert chat.attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert embed.attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 3


def test_raw_and_streaming_response_variants(oai, fake, spans):
    fake.script(Reply(input_tokens=9, output_tokens=2), Reply(text="x y z"))
    raw = oai.chat.completions.with_raw_response.create(model=GPT, messages=MSGS)
    assert raw.parse().usage.prompt_tokens == 9
    with oai.chat.completions.with_streaming_response.create(model=GPT, messages=MSGS) as r:
        body = b"".join(r.iter_bytes())  # the body is the app's to read; we watch it pass
    assert b"x y z" in body
    first, second = sorted(llm_spans(spans), key=lambda s: s.start_time)
    assert first.attributes[a.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert second.attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 3  # as the app read it
    assert second.attributes[a.OTELYTICS_COST_SOURCE] == "price_table"
