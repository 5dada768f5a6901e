"""Shared pieces of the SDK instrumentors: patching, request attributes, call plumbing."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import wrapt
from opentelemetry import context as otel_context

from otelytics._call import report_internal_error
from otelytics.llm._core import Invocation, begin, fingerprint, suppressed
from otelytics.llm._response import end_unread, is_streamed, watch_response
from otelytics.llm._stream import AsyncStreamProxy, StreamProxy, StreamState
from otelytics.semconv import attributes as a

__all__ = ["Patcher", "call_async", "call_sync", "is_set"]

_log = logging.getLogger("otelytics")
_MARK = "_self_otelytics_llm"


def is_set(v: Any) -> bool:
    """A value the caller really passed (SDK sentinels ``omit`` / ``NOT_GIVEN`` are not)."""
    return v is not None and type(v).__name__ not in ("Omit", "NotGiven")


class Patcher:
    """Wraps methods with wrapt and puts every original back on :meth:`restore`.

    A method that already carries our wrapper is left alone: instrumenting twice never
    doubles spans.
    """

    def __init__(self) -> None:
        self._patched: list[tuple[Any, str, Any]] = []

    def wrap(self, module: str, path: str, wrapper: Callable[..., Any]) -> bool:
        try:
            mod = importlib.import_module(module)
            cls_name, attr = path.rsplit(".", 1)
            owner: Any = mod
            for part in cls_name.split("."):
                owner = getattr(owner, part)
            original = owner.__dict__.get(attr)
            if original is None:
                return False
            if isinstance(original, wrapt.FunctionWrapper) and getattr(original, _MARK, False):
                return True
            proxy = wrapt.FunctionWrapper(original, wrapper)
            setattr(proxy, _MARK, True)  # a _self_ name: kept on the proxy, not the function
            setattr(owner, attr, proxy)
            self._patched.append((owner, attr, original))
            return True
        except Exception as exc:
            _log.debug("otelytics: cannot wrap %s.%s: %s", module, path, exc)
            return False

    def restore(self) -> None:
        for owner, attr, original in reversed(self._patched):
            setattr(owner, attr, original)
        self._patched.clear()


def request_attributes(kwargs: dict[str, Any], names: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Span attributes for the request parameters that were actually passed (and
    ``stream=True``)."""
    out: dict[str, Any] = {}
    if kwargs.get("stream") is True:
        out[a.GEN_AI_REQUEST_STREAM] = True
    for param, attr in names:
        v = kwargs.get(param)
        if v is None or not is_set(v):
            continue
        if attr == a.GEN_AI_REQUEST_STOP_SEQUENCES:
            out[attr] = [v] if isinstance(v, str) else [str(x) for x in v]
        elif isinstance(v, (bool, int, float, str)):
            out[attr] = v
    return out


def add_fingerprint(attrs: dict[str, Any], model: Any, content: Any, kwargs: dict[str, Any],
                    skip: frozenset[str]) -> None:
    """Set the request fingerprint of ``content`` and the parameters not in ``skip``."""
    try:
        params = {k: v for k, v in kwargs.items() if k not in skip and is_set(v)}
        fp = fingerprint(model, content, params)
    except Exception:
        report_internal_error("fingerprint")
        return
    if fp:
        attrs[a.OTELYTICS_REQUEST_FINGERPRINT] = fp


Starter = Callable[[Any, dict[str, Any]], "Invocation | None"]
Finisher = Callable[[Invocation, Any, dict[str, Any]], Any]


def start(provider: str, operation: str, model: Any, server: tuple[str | None, int | None],
          attrs: dict[str, Any], content: Any = None, system: Any = None,
          own_span: bool = True) -> Invocation | None:
    """Begin the call; its request ``content`` / ``system`` are kept for estimates and capture."""
    inv = begin(provider, operation, model if isinstance(model, str) else None,
                server_address=server[0], server_port=server[1], attributes=attrs,
                own_span=own_span)
    if inv is not None:
        inv.content = content
        inv.system = system
    return inv


def call_sync(wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
              inv: Invocation, finish: Finisher) -> Any:
    """Run the request with the call's context attached; hand the result to ``finish``."""
    token = otel_context.attach(inv.ctx)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        otel_context.detach(token)
        inv.end(exc)
        raise
    otel_context.detach(token)
    try:
        return finish(inv, result, kwargs)
    except Exception:
        report_internal_error("llm result")
        inv.end()
        return result


async def call_async(wrapped: Callable[..., Any], args: tuple[Any, ...],
                     kwargs: dict[str, Any], inv: Invocation, finish: Finisher) -> Any:
    token = otel_context.attach(inv.ctx)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        otel_context.detach(token)
        inv.end(exc)
        raise
    otel_context.detach(token)
    try:
        return finish(inv, result, kwargs)
    except Exception:
        report_internal_error("llm result")
        inv.end()
        return result


def make_wrappers(starter: Starter, finish: Finisher,
                  prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                  ) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """A sync and an async wrapt wrapper for one SDK method."""

    def sync_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if suppressed():
            return wrapped(*args, **kwargs)
        try:
            if prepare is not None:
                kwargs = prepare(kwargs)
            inv = starter(instance, kwargs)
        except Exception:
            report_internal_error("llm start")
            inv = None
        if inv is None:
            return wrapped(*args, **kwargs)
        return call_sync(wrapped, args, kwargs, inv, finish)

    async def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if suppressed():
            return await wrapped(*args, **kwargs)
        try:
            if prepare is not None:
                kwargs = prepare(kwargs)
            inv = starter(instance, kwargs)
        except Exception:
            report_internal_error("llm start")
            inv = None
        if inv is None:
            return await wrapped(*args, **kwargs)
        return await call_async(wrapped, args, kwargs, inv, finish)

    return sync_wrapper, async_wrapper


def server_of(client: Any) -> tuple[str | None, int | None, str]:
    """(host, port, base_url string) of an SDK client, cached on the client per base URL."""
    url = getattr(client, "base_url", None)
    cached = getattr(client, "_otelytics_server", None)
    if cached is not None and cached[0] is url:
        return cached[1]
    host = port = None
    text = ""
    try:
        host = url.host or None  # type: ignore[union-attr]
        port = url.port  # type: ignore[union-attr]
        if port is None:
            port = 443 if url.scheme == "https" else 80  # type: ignore[union-attr]
        text = str(url)
    except Exception:
        pass
    value = (host, port, text)
    try:
        client._otelytics_server = (url, value)
    except Exception:
        pass
    return value


def finish_parsed(inv: Invocation, result: Any, kwargs: dict[str, Any],
                  read: Callable[[Invocation, Any], None]) -> Any:
    """End a non-streamed call from its parsed response (``read`` fills ``inv``); a
    ``with_streaming_response`` one, or an async raw one (its ``parse()`` must be awaited),
    ends as the app reads it."""
    if is_streamed(result, kwargs) or type(result).__name__ == "AsyncAPIResponse":
        return watch_response(inv, result, read=read)  # priced when the app (awaits) parse
    # with_raw_response has read the body and caches its parse for the app
    read(inv, result.parse() if is_raw(result) else result)
    inv.end()
    return result


def wrap_stream(inv: Invocation, result: Any, handler: Callable[[StreamState, Any], None],
                sync_proxy: type = StreamProxy, async_proxy: type = AsyncStreamProxy) -> Any:
    """The SDK stream behind a proxy feeding each item to ``handler``; a
    ``with_streaming_response`` or ``with_raw_response`` one is fed as the app reads it (its
    ``parse()`` stream); another raw one ends unread."""
    if is_raw(result):  # with_streaming_response / with_raw_response: parse() -> stream
        if type(result).__name__ == "BinaryAPIResponse":
            end_unread(inv)
            return result
        return watch_response(inv, result, stream=(handler, sync_proxy, async_proxy))
    inv.output_parts = []
    st = StreamState(inv, handler)
    if hasattr(result, "__anext__"):
        return async_proxy(result, st)
    return sync_proxy(result, st)


RAW_TYPES = frozenset({"LegacyAPIResponse", "APIResponse", "AsyncAPIResponse",
                       "BinaryAPIResponse"})


def is_raw(result: Any) -> bool:
    """A ``with_raw_response`` / ``with_streaming_response`` result (a type-name check: a
    ``hasattr`` on a pydantic model raises and catches an AttributeError)."""
    return type(result).__name__ in RAW_TYPES
