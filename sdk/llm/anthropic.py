"""``AnthropicInstrumentor``: Anthropic Python SDK calls as GenAI spans, metrics and costs.

Wraps ``messages.create`` (sync, async, ``stream=True``) and the ``messages.stream(...)``
helper. Token counts follow the GenAI convention: ``gen_ai.usage.input_tokens`` is
Anthropic's ``input_tokens`` plus cache reads plus cache writes; the cache figures are
recorded apart (``cache_creation`` and ``cache_write`` usage spellings are both read).

One call, one span: ``anthropic`` 2.x emits its own CLIENT span per API call (scope
``com.anthropic.sdk.python``) unless its telemetry is off. When the client has a tracer we add
no span of ours; we still record the GenAI metrics, cost metrics and roll-ups, and the
enrichment span processor adds the cost to their span at export.
"""

from __future__ import annotations

from typing import Any

from otelytics._call import report_internal_error
from otelytics.llm import _settings
from otelytics.llm._core import Invocation, suppressed
from otelytics.llm._instrumentor import SdkInstrumentor
from otelytics.llm._stream import StreamState
from otelytics.llm._wrap import (
    Patcher,
    add_fingerprint,
    call_async,
    call_sync,
    finish_parsed,
    is_set,
    make_wrappers,
    request_attributes,
    server_of,
    start,
    wrap_stream,
)
from otelytics.semconv import attributes as a

__all__ = ["AnthropicInstrumentor", "has_own_telemetry"]

_PARAMS = (
    ("temperature", a.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", a.GEN_AI_REQUEST_TOP_P),
    ("top_k", a.GEN_AI_REQUEST_TOP_K),
    ("max_tokens", a.GEN_AI_REQUEST_MAX_TOKENS),
    ("stop_sequences", a.GEN_AI_REQUEST_STOP_SEQUENCES),
)
_NOT_FINGERPRINTED = frozenset({
    "model", "messages", "stream", "extra_headers", "extra_query", "extra_body", "timeout",
    "metadata",
})


def has_own_telemetry(client: Any) -> bool:
    """The client emits its own OTel span per call (anthropic 2.x with telemetry on)."""
    try:
        return client._tracer is not None
    except Exception:
        return False


def _provider(client: Any) -> str:
    name = type(client).__name__
    if "Bedrock" in name:
        return "aws.bedrock"
    if "Vertex" in name:
        return "gcp.vertex_ai"
    return "anthropic"


def _start(resource: Any, kwargs: dict[str, Any]) -> Invocation | None:
    client = resource._client
    host, port, _ = server_of(client)
    model = kwargs.get("model")
    attrs = request_attributes(kwargs, _PARAMS)
    messages = kwargs.get("messages")
    system = kwargs.get("system")
    system = system if is_set(system) else None
    add_fingerprint(attrs, model, [system, messages], kwargs, _NOT_FINGERPRINTED)
    return start(_provider(client), "chat", model, (host, port), attrs, messages, system,
                 own_span=not has_own_telemetry(client))


def _usage(inv: Invocation, usage: Any) -> None:
    """Anthropic's input excludes the cache; the GenAI figure includes it."""
    if usage is None:
        return
    raw_in = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    write = getattr(usage, "cache_creation_input_tokens", None)
    if write is None:
        write = getattr(usage, "cache_write_input_tokens", None)
    out = getattr(usage, "output_tokens", None)
    # a stream's message_delta may repeat some figures and leave others null: keep what
    # message_start said for the ones it leaves out
    if read is None:
        read = inv.cache_read
    if write is None:
        write = inv.cache_creation
    if raw_in is None and inv.input_tokens is not None:
        raw_in = inv.input_tokens - (inv.cache_read or 0) - (inv.cache_creation or 0)
    if raw_in is not None:
        inv.set_usage(input_tokens=raw_in + (read or 0) + (write or 0),
                      cache_read=read, cache_creation=write)
    if out is not None:
        inv.set_usage(output_tokens=out)


def _message(inv: Invocation, msg: Any) -> None:
    inv.response_model = getattr(msg, "model", None)
    inv.response_id = getattr(msg, "id", None)
    stop = getattr(msg, "stop_reason", None)
    if stop:
        inv.finish_reasons = [str(stop)]
    texts = []
    for block in getattr(msg, "content", None) or ():
        t = getattr(block, "type", None)
        if t == "tool_use":
            inv.add_tool_call(block.id, block.name)
        elif t == "text":
            texts.append(block.text)
    _usage(inv, getattr(msg, "usage", None))
    if inv.output_tokens is None:
        inv.output_parts = texts
    if _settings.current().capture_content:
        inv.output_messages = [{"role": "assistant", "parts": [
            {"type": "text", "content": "".join(texts)}]}]


def _event(st: StreamState, event: Any) -> None:
    t = event.type
    inv = st.inv
    if t == "content_block_delta":
        d = event.delta
        if d.type == "text_delta":
            inv.output_parts.append(d.text)  # type: ignore[union-attr]
    elif t == "message_start":
        msg = event.message
        inv.response_model = msg.model
        inv.response_id = msg.id
        _usage(inv, msg.usage)
        inv.output_tokens = None  # the start event's output count is a placeholder
    elif t == "message_delta":
        stop = event.delta.stop_reason
        if stop:
            inv.finish_reasons = [str(stop)]
        _usage(inv, event.usage)
    elif t == "content_block_start":
        block = event.content_block
        if block.type == "tool_use":
            inv.add_tool_call(block.id, block.name)


def _finish(inv: Invocation, result: Any, kwargs: dict[str, Any]) -> Any:
    if kwargs.get("stream") is True:
        return wrap_stream(inv, result, _event)
    return finish_parsed(inv, result, kwargs, _message)


# --- messages.stream(): the request is made in the manager's __enter__ -------------------
_SYNC_ATTR = "_MessageStreamManager__api_request"
_ASYNC_ATTR = "_AsyncMessageStreamManager__api_request"


def _stream_finish(inv: Invocation, raw: Any, kwargs: dict[str, Any]) -> Any:
    return wrap_stream(inv, raw, _event)


def _stream_helper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    manager = wrapped(*args, **kwargs)
    if suppressed():
        return manager
    try:
        if hasattr(manager, _SYNC_ATTR):
            original = getattr(manager, _SYNC_ATTR)

            def request() -> Any:
                inv = _start(instance, {**kwargs, "stream": True})
                if inv is None:
                    return original()
                return call_sync(original, (), {}, inv, _stream_finish)

            setattr(manager, _SYNC_ATTR, request)
        elif hasattr(manager, _ASYNC_ATTR):
            setattr(manager, _ASYNC_ATTR,
                    _async_request(getattr(manager, _ASYNC_ATTR), instance, kwargs))
    except Exception:
        report_internal_error("anthropic stream helper")
    return manager


async def _async_request(original: Any, instance: Any, kwargs: dict[str, Any]) -> Any:
    inv = _start(instance, {**kwargs, "stream": True})
    if inv is None:
        return await original
    return await call_async(lambda: original, (), {}, inv, _stream_finish)


class AnthropicInstrumentor(SdkInstrumentor):
    """Instruments the ``anthropic`` SDK; ``uninstrument()`` restores it."""

    _requires = ("anthropic >= 0.40",)

    def _patch(self, p: Patcher) -> None:
        sync, asyn = make_wrappers(_start, _finish)
        mod = "anthropic.resources.messages.messages"
        p.wrap(mod, "Messages.create", sync)
        p.wrap(mod, "AsyncMessages.create", asyn)
        p.wrap(mod, "Messages.stream", _stream_helper)
        p.wrap(mod, "AsyncMessages.stream", _stream_helper)
