"""FakeLLMServer against the real openai and anthropic clients, sync and async.

The server is only useful if the official SDKs parse what it sends exactly as they parse the
real APIs: every response kind, streams chunk by chunk, usage details, and errors mapped to the
SDK's own exception classes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import warnings

import anthropic
import httpx2
import openai
import pytest

from otelytics.testing import ErrorReply, FakeLLMServer, Reply, ToolCall

warnings.filterwarnings("ignore", category=DeprecationWarning, module="anthropic")

MSGS = [{"role": "user", "content": "What is the capital of France?"}]
CLAUDE = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def fake(server):
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def oai(fake):
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
def claude(fake):
    with anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-test",
                             max_retries=0) as c:
        yield c


# --- OpenAI chat completions -------------------------------------------------------------

def test_chat_json_carries_scripted_text_usage_and_details(fake, oai):
    fake.script(Reply(text="Paris.", input_tokens=120, output_tokens=30, cache_read_tokens=100,
                      reasoning_tokens=12, model="gpt-4o-mini-2024-07-18"))
    out = oai.chat.completions.create(model="gpt-4o-mini", messages=MSGS, temperature=0.2)
    assert out.choices[0].message.content == "Paris."
    assert out.choices[0].finish_reason == "stop"
    assert out.model == "gpt-4o-mini-2024-07-18"
    assert out.id.startswith("chatcmpl-")
    u = out.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (120, 30, 150)
    assert u.prompt_tokens_details.cached_tokens == 100
    assert u.completion_tokens_details.reasoning_tokens == 12
    req = fake.requests[-1]
    assert req.path == "/v1/chat/completions"
    assert req.body["temperature"] == 0.2 and req.body["messages"] == MSGS
    assert req.headers["authorization"] == "Bearer sk-test"


def test_chat_tool_calls_and_length_finish(fake, oai):
    fake.script(Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="c1"),
                                           ToolCall("get_time", {"tz": "CET"})]),
                Reply(text="truncated", finish_reason="max_tokens"))
    out = oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    calls = out.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert calls[0].id == "c1" and calls[1].id.startswith("call_")
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert out.choices[0].finish_reason == "tool_calls"
    out = oai.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert out.choices[0].finish_reason == "length"  # Anthropic vocabulary mapped


def test_chat_stream_chunk_by_chunk_without_usage_unless_asked(fake, oai):
    fake.script(Reply(text="abcdefghij", chunks=5, input_tokens=9, output_tokens=4),
                Reply(text="abcdefghij", chunks=5, input_tokens=9, output_tokens=4))
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True))
    texts = [c.choices[0].delta.content for c in chunks]
    assert texts == ["", "ab", "cd", "ef", "gh", "ij", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)

    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=MSGS, stream=True,
                                              stream_options={"include_usage": True}))
    assert len(chunks) == 8
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 4)
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_stream_tool_call_deltas_accumulate_in_sdk_helper(fake, oai):
    fake.script(Reply(text="", tool_calls=[ToolCall("lookup", {"q": "otel", "n": 3})]))
    with oai.chat.completions.stream(model="gpt-4o", messages=MSGS) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": "otel", "n": 3}
    assert final.choices[0].finish_reason == "tool_calls"


def test_chat_parse_helper(fake, oai):
    fake.script(Reply(text='{"city": "Paris"}'))
    out = oai.chat.completions.parse(
        model="gpt-4o", messages=MSGS,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "properties": {"city": {"type": "string"}}}}})
    assert json.loads(out.choices[0].message.content) == {"city": "Paris"}


def test_usage_can_be_absent(fake, oai):
    fake.script(Reply(text="hi", usage=False), Reply(text="hi", usage=False))
    assert oai.chat.completions.create(model="m", messages=MSGS).usage is None
    chunks = list(oai.chat.completions.create(model="m", messages=MSGS, stream=True,
                                              stream_options={"include_usage": True}))
    assert all(c.usage is None for c in chunks)


def test_default_token_counts_are_estimated_and_deterministic(fake, oai):
    a = oai.chat.completions.create(model="m", messages=MSGS)
    b = oai.chat.completions.create(model="m", messages=MSGS)
    assert a.usage.prompt_tokens == b.usage.prompt_tokens > 5
    assert a.usage.completion_tokens > 0
    assert a.choices[0].message.content == FakeLLMServer().default.text


# --- OpenAI responses and embeddings -----------------------------------------------------

def test_responses_json_usage_details(fake, oai):
    fake.script(Reply(text="Paris", input_tokens=50, output_tokens=20, cache_read_tokens=40,
                      reasoning_tokens=15))
    out = oai.responses.create(model="gpt-5-mini", input="Capital of France?")
    assert out.output_text == "Paris"
    assert out.status == "completed"
    u = out.usage
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (50, 20, 70)
    assert u.input_tokens_details.cached_tokens == 40
    assert u.output_tokens_details.reasoning_tokens == 15
    assert fake.requests[-1].path == "/v1/responses"


def test_responses_stream_events_in_order(fake, oai):
    fake.script(Reply(text="one two three", input_tokens=8, output_tokens=3))
    events = list(oai.responses.create(model="gpt-5", input="count", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == [
        "one", " two", " three"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.usage.input_tokens == 8
    assert events[0].response.usage is None


def test_responses_stream_helper_with_function_call_and_incomplete(fake, oai):
    fake.script(Reply(text="", tool_calls=[ToolCall("search", {"q": "x"})]),
                Reply(text="cut", finish_reason="length"))
    with oai.responses.stream(model="gpt-5", input="go") as stream:
        final = stream.get_final_response()
    item = final.output[0]
    assert item.type == "function_call" and item.name == "search"
    assert json.loads(item.arguments) == {"q": "x"}
    out = oai.responses.create(model="gpt-5", input="go")
    assert out.status == "incomplete" and out.incomplete_details.reason == "max_output_tokens"


def test_embeddings_float_and_base64(fake, oai):
    fake.script(Reply(input_tokens=6, embedding_dimensions=4))
    out = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert [d.index for d in out.data] == [0, 1]
    assert len(out.data[0].embedding) == 4
    assert out.usage.prompt_tokens == 6 and out.usage.total_tokens == 6
    assert fake.requests[-1].body["encoding_format"] == "base64"  # the SDK's default
    again = oai.embeddings.create(model="text-embedding-3-small", input="a",
                                  encoding_format="float", dimensions=8)
    assert len(again.data[0].embedding) == 8
    assert again.data[0].embedding[:4] == pytest.approx(out.data[0].embedding, rel=1e-6)


def test_azure_style_deployment_path(fake):
    client = openai.AzureOpenAI(azure_endpoint=fake.base_url, api_key="k", max_retries=0,
                                api_version="2024-10-21", azure_deployment="my-gpt")
    fake.script(Reply(text="azure", input_tokens=3, output_tokens=1))
    out = client.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert out.choices[0].message.content == "azure"
    assert fake.requests[-1].path.startswith("/openai/deployments/my-gpt/chat/completions")


# --- Anthropic messages ------------------------------------------------------------------

def test_messages_json_splits_cache_out_of_input(fake, claude):
    fake.script(Reply(text="Paris", input_tokens=1000, cache_read_tokens=700,
                      cache_creation_tokens=200, output_tokens=25))
    out = claude.messages.create(model=CLAUDE, max_tokens=50, messages=MSGS,
                                 system="Be brief.")
    assert out.content[0].text == "Paris"
    assert out.stop_reason == "end_turn"
    u = out.usage
    assert (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens,
            u.output_tokens) == (100, 700, 200, 25)
    req = fake.requests[-1]
    assert req.path == "/v1/messages" and req.body["system"] == "Be brief."
    auth = req.headers.get("x-api-key", "") + req.headers.get("authorization", "")
    assert "sk-ant-test" in auth
    assert "anthropic-version" in req.headers


def test_messages_tool_use_and_max_tokens(fake, claude):
    fake.script(Reply(text="Let me check.", tool_calls=[ToolCall("weather", {"city": "Oslo"})]),
                Reply(text="cut off", finish_reason="length"))
    out = claude.messages.create(model=CLAUDE, max_tokens=50, messages=MSGS)
    assert [b.type for b in out.content] == ["text", "tool_use"]
    assert out.content[1].name == "weather" and out.content[1].input == {"city": "Oslo"}
    assert out.content[1].id.startswith("toolu_")
    assert out.stop_reason == "tool_use"
    assert claude.messages.create(model=CLAUDE, max_tokens=5,
                                  messages=MSGS).stop_reason == "max_tokens"


def test_messages_stream_raw_events(fake, claude):
    fake.script(Reply(text="a b c", input_tokens=30, cache_read_tokens=20, output_tokens=3))
    events = list(claude.messages.create(model=CLAUDE, max_tokens=50, messages=MSGS,
                                         stream=True))
    kinds = [e.type for e in events]
    assert kinds == ["message_start", "content_block_start", "content_block_delta",
                     "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]  # the SDK skips ping
    start = events[0].message.usage
    assert (start.input_tokens, start.cache_read_input_tokens) == (10, 20)
    assert events[-2].usage.output_tokens == 3
    assert events[-2].delta.stop_reason == "end_turn"
    assert [e.delta.text for e in events if e.type == "content_block_delta"] == [
        "a", " b", " c"]


def test_messages_stream_helper_accumulates_text_and_tool_input(fake, claude):
    fake.script(Reply(text="Sure thing", tool_calls=[ToolCall("calc", {"expr": "1+2"})],
                      input_tokens=40, cache_creation_tokens=30, output_tokens=9))
    with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=MSGS) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Sure thing"
    assert final.content[1].input == {"expr": "1+2"}
    assert final.usage.cache_creation_input_tokens == 30
    assert final.usage.input_tokens == 10
    assert final.usage.output_tokens == 9


def test_count_tokens_endpoint(fake, claude):
    n = claude.messages.count_tokens(model=CLAUDE, messages=MSGS).input_tokens
    assert n > 5


# --- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "oai_exc", "ant_exc"), [
    (400, openai.BadRequestError, anthropic.BadRequestError),
    (401, openai.AuthenticationError, anthropic.AuthenticationError),
    (429, openai.RateLimitError, anthropic.RateLimitError),
    (500, openai.InternalServerError, anthropic.InternalServerError),
    (529, openai.InternalServerError, anthropic.OverloadedError),
])
def test_errors_map_to_sdk_exception_classes(fake, oai, claude, status, oai_exc, ant_exc):
    fake.script(ErrorReply(status, "nope", retry_after=7), path="/chat/completions")
    fake.script(ErrorReply(status, "nope", retry_after=7), path="/messages")
    with pytest.raises(oai_exc) as e1:
        oai.chat.completions.create(model="m", messages=MSGS)
    with pytest.raises(ant_exc) as e2:
        claude.messages.create(model=CLAUDE, max_tokens=5, messages=MSGS)
    for err in (e1.value, e2.value):
        assert err.status_code == status
        assert err.response.headers["retry-after"] == "7"
        assert "nope" in str(err)
    assert e2.value.body["error"]["message"] == "nope"


def test_client_retries_honour_retry_after(fake):
    fake.script(ErrorReply(429, retry_after=0.01), Reply(text="ok after retry"))
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=1)
    out = client.chat.completions.create(model="m", messages=MSGS)
    assert out.choices[0].message.content == "ok after retry"
    assert len(fake.requests) == 2


def test_dropped_connection_mid_stream_and_before_response(fake, oai, claude):
    fake.script(Reply(text="a b c d e", drop_after=3), Reply(drop_after=0),
                Reply(text="x y z", drop_after=2))
    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(model="m", messages=MSGS, stream=True):
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "a", " b"]
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=MSGS)
    # anthropic 2.x lets the transport's own error through mid-stream (as against the real API)
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
        list(claude.messages.create(model=CLAUDE, max_tokens=5, messages=MSGS, stream=True))


def test_delay_triggers_client_timeout(fake, oai):
    fake.script(Reply(delay=5))
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.2).chat.completions.create(model="m", messages=MSGS)


def test_path_filtered_scripts_and_bad_requests(fake, oai, claude):
    fake.script(Reply(text="for claude"), path="/messages")
    fake.script(Reply(text="for openai"))
    assert oai.chat.completions.create(model="m", messages=MSGS).choices[0].message.content \
        == "for openai"
    assert claude.messages.create(model=CLAUDE, max_tokens=5,
                                  messages=MSGS).content[0].text == "for claude"
    assert fake.pending == 0
    with pytest.raises(openai.NotFoundError):
        oai.post("/nowhere", body={}, cast_to=object)
    with pytest.raises(TypeError):
        fake.script("not a reply")
    with pytest.raises(ValueError, match="chunks"):
        Reply(text="ab", chunks=3)
    with pytest.raises(ValueError, match="input_tokens"):
        Reply(input_tokens=5, cache_read_tokens=6)


# --- async clients -----------------------------------------------------------------------

def test_async_clients_json_and_streams(fake):
    async def main():
        async with openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k",
                                      max_retries=0) as oa, \
                anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="k",
                                         max_retries=0) as an:
            fake.script(Reply(text="x", input_tokens=4, output_tokens=1), path="/completions")
            fake.script(Reply(text="p q", input_tokens=5, output_tokens=2),
                        path="/completions")
            fake.script(Reply(text="r s", input_tokens=6, cache_read_tokens=2,
                              output_tokens=2), path="/messages")
            fake.script(ErrorReply(429, retry_after=3), path="/messages")
            one = await oa.chat.completions.create(model="m", messages=MSGS)
            stream = await oa.chat.completions.create(
                model="m", messages=MSGS, stream=True, stream_options={"include_usage": True})
            chunks = [c async for c in stream]
            async with an.messages.stream(model=CLAUDE, max_tokens=5, messages=MSGS) as s:
                text = "".join([t async for t in s.text_stream])
                final = await s.get_final_message()
            with pytest.raises(anthropic.RateLimitError):
                await an.messages.create(model=CLAUDE, max_tokens=5, messages=MSGS)
            return one, chunks, text, final

    one, chunks, text, final = asyncio.run(main())
    assert one.usage.prompt_tokens == 4
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "p q"
    assert chunks[-1].usage.completion_tokens == 2
    assert text == "r s"
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (4, 2)


def test_async_responses_and_embeddings(fake):
    async def main():
        async with openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k",
                                      max_retries=0) as oa:
            fake.script(Reply(text="hi there", input_tokens=3, output_tokens=2))
            events = [e async for e in await oa.responses.create(model="m", input="x",
                                                                 stream=True)]
            emb = await oa.embeddings.create(model="e", input="hello")
            return events, emb

    events, emb = asyncio.run(main())
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage.output_tokens == 2
    assert len(emb.data[0].embedding) == 8


def test_error_inside_a_stream(fake, oai, claude):
    fake.script(Reply(text="a b c d", stream_error=ErrorReply(500, "boom"),
                      stream_error_after=3), path="/chat/completions")
    fake.script(Reply(text="a b c d", stream_error=ErrorReply(529, "Overloaded"),
                      stream_error_after=4), path="/messages")
    got = []
    with pytest.raises(openai.APIError, match="boom"):
        for chunk in oai.chat.completions.create(model="m", messages=MSGS, stream=True):
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "a", " b"]
    kinds = []
    with pytest.raises(anthropic.APIStatusError) as err:
        for event in claude.messages.create(model=CLAUDE, max_tokens=5, messages=MSGS,
                                            stream=True):
            kinds.append(event.type)
    assert kinds == ["message_start", "content_block_start", "content_block_delta"]  # + ping
    assert err.value.body["error"]["type"] == "overloaded_error"


def test_anthropic_thinking_tokens(fake, claude):
    fake.script(Reply(text="x", input_tokens=10, output_tokens=50, reasoning_tokens=30))
    usage = claude.messages.create(model=CLAUDE, max_tokens=5, messages=MSGS).usage
    assert usage.output_tokens == 50
    assert usage.output_tokens_details.thinking_tokens == 30


def test_request_ids_reach_the_sdks(fake, oai, claude):
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=MSGS)
    assert raw.headers["x-request-id"].startswith("req_fake")
    assert raw.parse()._request_id == raw.headers["x-request-id"]
    msg = claude.messages.create(model=CLAUDE, max_tokens=5, messages=MSGS)
    assert msg._request_id.startswith("req_fake")


def test_concurrent_requests_are_all_answered_and_recorded(fake):
    async def main():
        async with openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="k",
                                      max_retries=0) as oa:
            async def one(i):
                stream = await oa.chat.completions.create(
                    model=f"m{i}", messages=MSGS, stream=True,
                    stream_options={"include_usage": True})
                return [c async for c in stream]
            return await asyncio.gather(*(one(i) for i in range(20)))

    results = asyncio.run(main())
    assert [r[-1].usage is not None for r in results] == [True] * 20
    assert [r[0].model for r in results] == [f"m{i}" for i in range(20)]
    assert sorted(r.body["model"] for r in fake.requests) == sorted(f"m{i}" for i in range(20))


def _reset(sock) -> None:
    """Close with SO_LINGER 0: the server sees a TCP reset, as when a client process dies."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_dropped_client_connections_leave_stderr_clean(capfd):
    with FakeLLMServer() as srv:
        # reset mid request line (the server is reading it) and mid body
        for partial in (b"POST /v1/chat/comp",
                        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 100\r\n\r\n{"):
            sock = socket.create_connection(("127.0.0.1", srv.port))
            sock.sendall(partial)
            time.sleep(0.05)
            _reset(sock)
        time.sleep(0.2)
        # the server still answers afterwards
        client = openai.OpenAI(base_url=srv.openai_base_url, api_key="k", max_retries=0)
        resp = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content
    err = capfd.readouterr().err
    assert "Exception occurred" not in err
    assert "ConnectionResetError" not in err


def test_other_handler_errors_still_print_a_traceback(capfd):
    with FakeLLMServer() as srv:
        httpd = srv._httpd
        try:
            raise ValueError("a real bug in a handler")
        except ValueError:
            httpd.handle_error(None, ("127.0.0.1", 1))
    err = capfd.readouterr().err
    assert "Exception occurred during processing of request" in err
    assert "ValueError: a real bug in a handler" in err
