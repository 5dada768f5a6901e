"""``OpenAIInstrumentor``: OpenAI Python SDK calls as GenAI spans, metrics and costs.

Wraps ``chat.completions.create`` / ``parse`` / ``stream`` (sync and async, streams with or
without usage), ``responses.create`` (sync, async, streaming events) and
``embeddings.create``. ``chat.completions.stream`` calls ``create`` internally, which records
the call (one span); the helper's ``with`` block only ends it promptly. ``with_raw_response``
calls read the SDK's cached parse; ``with_streaming_response`` calls end as the app reads the
body (``otelytics.llm._response``).

The provider name comes from the client: ``AzureOpenAI`` or an ``*.openai.azure.com`` host is
``azure.ai.openai``; a few well-known OpenAI-compatible hosts have their own names; any other
host (vLLM, Ollama, a local test server) is an OpenAI-compatible ``openai`` endpoint told
apart by ``server.address``.

Opt-in ``OTELYTICS_OPENAI_INCLUDE_USAGE=true`` adds ``stream_options={"include_usage": True}``
to chat streams that did not set it, so usage is never missing; the extra usage-only chunk
this makes the server send is consumed by the wrapper, so the app sees the same chunks.
"""

from __future__ import annotations

from typing import Any

from otelytics.llm import _settings
from otelytics.llm._core import Invocation
from otelytics.llm._instrumentor import SdkInstrumentor
from otelytics.llm._response import raw_mode
from otelytics.llm._stream import AsyncStreamProxy, ManagerProxy, StreamProxy, StreamState
from otelytics.llm._wrap import (
    Patcher,
    add_fingerprint,
    finish_parsed,
    is_set,
    make_wrappers,
    request_attributes,
    server_of,
    start,
    wrap_stream,
)
from otelytics.semconv import attributes as a

__all__ = ["OpenAIInstrumentor", "provider_for"]

_CHAT_PARAMS = (
    ("temperature", a.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", a.GEN_AI_REQUEST_TOP_P),
    ("max_tokens", a.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_completion_tokens", a.GEN_AI_REQUEST_MAX_TOKENS),
    ("frequency_penalty", a.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", a.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("stop", a.GEN_AI_REQUEST_STOP_SEQUENCES),
    ("seed", a.GEN_AI_REQUEST_SEED),
)
_RESPONSES_PARAMS = (
    ("temperature", a.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", a.GEN_AI_REQUEST_TOP_P),
    ("max_output_tokens", a.GEN_AI_REQUEST_MAX_TOKENS),
)
_NOT_FINGERPRINTED = frozenset({
    "model", "messages", "input", "stream", "stream_options", "extra_headers", "extra_query",
    "extra_body", "timeout", "user", "metadata", "store", "safety_identifier",
    "prompt_cache_key",
})
_INJECTED: dict[str, Any] = {"include_usage": True}  # identity marks our own injection
_KNOWN_HOSTS = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x_ai",
    "api.mistral.ai": "mistral_ai",
    "api.perplexity.ai": "perplexity",
    "openrouter.ai": "openrouter",
}


def provider_for(client: Any) -> str:
    """The ``gen_ai.provider.name`` of an OpenAI SDK client."""
    if "Azure" in type(client).__name__:
        return "azure.ai.openai"
    host = server_of(client)[0] or ""
    if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")):
        return "azure.ai.openai"
    return _KNOWN_HOSTS.get(host, "openai")


def _client_info(resource: Any) -> tuple[str, tuple[str | None, int | None]]:
    """(provider, (host, port)) of the resource's client, cached on the client per base URL.

    The URL is read from the client's ``_base_url`` slot when it has one: the ``base_url``
    property costs ~1 µs per read on openai 2.x/3.x clients (and was read twice a call)."""
    client = resource._client
    slots = getattr(client, "__dict__", None) or {}
    url = slots.get("_base_url")
    if url is None:
        url = client.base_url
    cached = slots.get("_otelytics_info")
    if cached is not None and cached[0] is url:
        return cached[1]
    host, port, _ = server_of(client)
    value = (provider_for(client), (host, port))
    try:
        client._otelytics_info = (url, value)
    except Exception:
        pass
    return value


# --- chat completions -----------------------------------------------------------------
def _chat_prepare(kwargs: dict[str, Any]) -> dict[str, Any]:
    # not for a raw response: the app reads its bytes itself, and would see the extra chunk
    if (kwargs.get("stream") is True and _settings.current().openai_include_usage
            and not is_set(kwargs.get("stream_options")) and raw_mode(kwargs) is None):
        kwargs = {**kwargs, "stream_options": _INJECTED}
    return kwargs


def _chat_start(resource: Any, kwargs: dict[str, Any]) -> Invocation | None:
    provider, server = _client_info(resource)
    model = kwargs.get("model")
    attrs = request_attributes(kwargs, _CHAT_PARAMS)
    n = kwargs.get("n")
    if isinstance(n, int) and n != 1:
        attrs[a.GEN_AI_REQUEST_CHOICE_COUNT] = n
    rf = kwargs.get("response_format")
    if rf is not None and is_set(rf):
        attrs[a.GEN_AI_OUTPUT_TYPE] = "json"
    messages = kwargs.get("messages")
    add_fingerprint(attrs, model, messages, kwargs, _NOT_FINGERPRINTED)
    return start(provider, "chat", model, server, attrs, messages)


def _chat_usage(inv: Invocation, usage: Any) -> None:
    if usage is None:
        return
    details = getattr(usage, "prompt_tokens_details", None)
    out_details = getattr(usage, "completion_tokens_details", None)
    inv.set_usage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cache_read=getattr(details, "cached_tokens", None) if details is not None else None,
        reasoning=(getattr(out_details, "reasoning_tokens", None)
                   if out_details is not None else None),
    )


def _chat_response(inv: Invocation, resp: Any) -> None:
    inv.response_model = getattr(resp, "model", None)
    inv.response_id = getattr(resp, "id", None)
    reasons = []
    outputs = []
    for choice in getattr(resp, "choices", None) or ():
        if choice.finish_reason:
            reasons.append(str(choice.finish_reason))
        msg = choice.message
        for tc in getattr(msg, "tool_calls", None) or ():
            fn = getattr(tc, "function", None)
            inv.add_tool_call(tc.id, getattr(fn, "name", None))
        outputs.append(msg)
    if reasons:
        inv.finish_reasons = reasons
    _chat_usage(inv, getattr(resp, "usage", None))
    if inv.input_tokens is None or inv.output_tokens is None:
        inv.output_parts = [getattr(m, "content", None) or "" for m in outputs]
    if _settings.current().capture_content:
        from otelytics.llm._content import input_messages

        inv.output_messages = input_messages(outputs)


def _chat_chunk(st: StreamState, chunk: Any) -> None:
    inv = st.inv
    if inv.response_id is None:
        inv.response_id = chunk.id
        inv.response_model = chunk.model
    choices = chunk.choices
    if choices:
        for c in choices:
            d = c.delta
            if d is not None:
                text = d.content
                if text:
                    inv.output_parts.append(text)  # type: ignore[union-attr]
                tcs = d.tool_calls
                if tcs:
                    for tc in tcs:
                        if tc.id:
                            fn = tc.function
                            inv.add_tool_call(tc.id, fn.name if fn is not None else None)
            fr = c.finish_reason
            if fr:
                if inv.finish_reasons is None:
                    inv.finish_reasons = []
                inv.finish_reasons.append(fr)
    usage = chunk.usage
    if usage is not None:
        _chat_usage(inv, usage)


class _HidingStreamProxy(StreamProxy):
    """Consumes the usage-only chunk that our injected ``include_usage`` made the server send."""

    def __next__(self) -> Any:
        item = super().__next__()
        if not item.choices and item.usage is not None:
            return super().__next__()
        return item


class _AsyncHidingStreamProxy(AsyncStreamProxy):
    async def __anext__(self) -> Any:
        item = await super().__anext__()
        if not item.choices and item.usage is not None:
            return await super().__anext__()
        return item


def _chat_finish(inv: Invocation, result: Any, kwargs: dict[str, Any]) -> Any:
    if kwargs.get("stream") is True:
        if kwargs.get("stream_options") is _INJECTED:
            return wrap_stream(inv, result, _chat_chunk, _HidingStreamProxy,
                               _AsyncHidingStreamProxy)
        return wrap_stream(inv, result, _chat_chunk)
    return finish_parsed(inv, result, kwargs, _chat_response)


# --- responses ------------------------------------------------------------------------
def _responses_start(resource: Any, kwargs: dict[str, Any]) -> Invocation | None:
    provider, server = _client_info(resource)
    model = kwargs.get("model")
    attrs = request_attributes(kwargs, _RESPONSES_PARAMS)
    content = kwargs.get("input")
    instructions = kwargs.get("instructions")
    add_fingerprint(attrs, model, [instructions if is_set(instructions) else None, content],
                    kwargs, _NOT_FINGERPRINTED)
    return start(provider, "chat", model, server, attrs, content if is_set(content) else None,
                 instructions if is_set(instructions) else None)


def _responses_response(inv: Invocation, resp: Any) -> None:
    inv.response_model = getattr(resp, "model", None) or inv.response_model
    inv.response_id = getattr(resp, "id", None) or inv.response_id
    status = getattr(resp, "status", None)
    if status:
        inv.finish_reasons = [str(status)]
    for item in getattr(resp, "output", None) or ():
        if getattr(item, "type", None) == "function_call":
            inv.add_tool_call(getattr(item, "call_id", None), getattr(item, "name", None))
    usage = getattr(resp, "usage", None)
    if usage is not None:
        details = getattr(usage, "input_tokens_details", None)
        out_details = getattr(usage, "output_tokens_details", None)
        inv.set_usage(
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_read=getattr(details, "cached_tokens", None) if details else None,
            reasoning=getattr(out_details, "reasoning_tokens", None) if out_details else None,
        )
    elif inv.output_parts is None:
        try:
            inv.output_parts = [resp.output_text]
        except Exception:
            inv.output_parts = []
    if _settings.current().capture_content:
        try:
            inv.output_messages = [{"role": "assistant", "parts": [
                {"type": "text", "content": resp.output_text}]}]
        except Exception:
            pass


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _responses_event(st: StreamState, event: Any) -> None:
    t = event.type
    if t == "response.output_text.delta":
        st.inv.output_parts.append(event.delta)  # type: ignore[union-attr]
    elif t in _FINAL_EVENTS:
        _responses_response(st.inv, event.response)
    elif t == "response.created":
        r = event.response
        st.inv.response_id, st.inv.response_model = r.id, r.model


def _responses_finish(inv: Invocation, result: Any, kwargs: dict[str, Any]) -> Any:
    if kwargs.get("stream") is True:
        return wrap_stream(inv, result, _responses_event)
    return finish_parsed(inv, result, kwargs, _responses_response)


# --- embeddings -----------------------------------------------------------------------
def _embeddings_start(resource: Any, kwargs: dict[str, Any]) -> Invocation | None:
    provider, server = _client_info(resource)
    model = kwargs.get("model")
    attrs: dict[str, Any] = {}
    fmt = kwargs.get("encoding_format")
    if isinstance(fmt, str):
        attrs[a.GEN_AI_REQUEST_ENCODING_FORMATS] = [fmt]
    content = kwargs.get("input")
    add_fingerprint(attrs, model, content, kwargs, _NOT_FINGERPRINTED)
    return start(provider, "embeddings", model, server, attrs, content)


def _embeddings_response(inv: Invocation, resp: Any) -> None:
    inv.response_model = getattr(resp, "model", None)
    usage = getattr(resp, "usage", None)
    if usage is not None:
        inv.set_usage(input_tokens=usage.prompt_tokens)
    data = getattr(resp, "data", None)
    if data:
        vec = getattr(data[0], "embedding", None)
        if isinstance(vec, list):
            inv.set_attribute(a.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vec))


def _embeddings_finish(inv: Invocation, result: Any, kwargs: dict[str, Any]) -> Any:
    return finish_parsed(inv, result, kwargs, _embeddings_response)


# --- the stream() helper ---------------------------------------------------------------
def _manager_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    manager = wrapped(*args, **kwargs)
    try:
        return ManagerProxy(manager)
    except Exception:
        return manager


class OpenAIInstrumentor(SdkInstrumentor):
    """Instruments the ``openai`` SDK (1.x and later); ``uninstrument()`` restores it."""

    _requires = ("openai >= 1.0",)

    def _patch(self, p: Patcher) -> None:
        chat_sync, chat_async = make_wrappers(_chat_start, _chat_finish, _chat_prepare)
        resp_sync, resp_async = make_wrappers(_responses_start, _responses_finish)
        emb_sync, emb_async = make_wrappers(_embeddings_start, _embeddings_finish)
        chat = "openai.resources.chat.completions.completions"
        p.wrap(chat, "Completions.create", chat_sync)
        p.wrap(chat, "AsyncCompletions.create", chat_async)
        p.wrap(chat, "Completions.parse", chat_sync)
        p.wrap(chat, "AsyncCompletions.parse", chat_async)
        p.wrap(chat, "Completions.stream", _manager_wrapper)
        p.wrap(chat, "AsyncCompletions.stream", _manager_wrapper)
        p.wrap("openai.resources.responses.responses", "Responses.create", resp_sync)
        p.wrap("openai.resources.responses.responses", "AsyncResponses.create", resp_async)
        p.wrap("openai.resources.embeddings", "Embeddings.create", emb_sync)
        p.wrap("openai.resources.embeddings", "AsyncEmbeddings.create", emb_async)
