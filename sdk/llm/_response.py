"""``with_streaming_response`` calls: the span ends when the app has consumed the response.

The SDK hands the app an ``APIResponse`` / ``AsyncAPIResponse`` whose body is still on the
wire. We return a proxy around it (``isinstance`` still holds; every attribute and method
passes through) that only watches what the app itself reads, never reading a byte for it:

- ``parse()``: a non-streamed body is read from the parsed object the app gets; a
  ``stream=True`` one returns the SDK's stream behind our usual stream proxy.
- ``read()`` / ``text()`` / ``json()``: the body is now in memory, so the SDK's own
  (uncached) ``_parse()`` of it, or its SSE events, fill the call.
- ``iter_bytes()`` / ``iter_text()`` / ``iter_lines()``: what the app iterates is fed, as it
  passes, to the SDK's own SSE decoder and then, as :class:`View` s of each event's JSON, to
  the same per-chunk handlers the stream proxies use (a non-streamed body is collected and
  built with the SDK's own model builder at its end).

The call ends when that consumption ends, when the response is closed (its ``with`` block
exits) or when the proxy is garbage-collected, whichever comes first; closed unread it ends as
before (no usage, unpriced). Nothing here raises into the app.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import wrapt

from otelytics._call import report_internal_error
from otelytics.llm import _settings
from otelytics.llm._core import Invocation
from otelytics.llm._stream import Handler, StreamState

__all__ = ["AsyncResponseProxy", "ResponseProxy", "View", "Watch", "end_unread", "is_streamed",
           "raw_mode", "watch_response"]

Reader = Callable[[Invocation, Any], None]
_RAW_HEADER = "X-Stainless-Raw-Response"


def end_unread(inv: Invocation) -> None:
    """End a call whose response we may not read: no usage, no estimate (unpriced)."""
    inv.estimate_input = _nothing
    inv.end()


def _nothing() -> None:
    return None


def raw_mode(kwargs: dict[str, Any]) -> Any:
    """The SDK's raw-response mode of a request: ``"raw"``, ``"stream"`` or None."""
    headers = kwargs.get("extra_headers")
    return headers.get(_RAW_HEADER) if isinstance(headers, dict) else None


def is_streamed(result: Any, kwargs: dict[str, Any]) -> bool:
    """A ``with_streaming_response`` result: its body is still the app's to read."""
    return (type(result).__name__ in ("APIResponse", "AsyncAPIResponse")
            and raw_mode(kwargs) == "stream")


class View:
    """A decoded SSE event read the way the per-chunk handlers read the SDK's models: a field
    is an attribute, missing or null is None, an object is a view, a list a list of views.

    Building the SDK model of an event (``_process_response_data``) costs ~90 µs, the view
    ~1 µs: an app reading raw lines skipped that cost, so we do not pay it for the app.
    """

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    def __getattr__(self, name: str) -> Any:
        v = self._d.get(name)
        if type(v) is dict:
            return View(v)
        if type(v) is list:
            return [View(x) if type(x) is dict else x for x in v]
        return v


class Watch:
    """What the app has read of one response; holds no reference to the proxy."""

    __slots__ = ("body", "decoder", "inv", "kind", "make", "proxies", "read", "response",
                 "rest", "state", "stream")

    def __init__(self, inv: Invocation, response: Any, read: Reader | None,
                 stream: tuple[Handler, type, type] | None) -> None:
        self.inv = inv
        self.response = response
        self.read = read
        self.stream = stream
        self.state: StreamState | None = None
        self.proxies: tuple[Any, Any] | None = None  # (SDK stream, our proxy of it)
        self.body: list[Any] = []  # a non-streamed body read piece by piece
        self.kind = ""
        self.decoder: Any = None
        self.make: Any = None
        self.rest = b""  # an SSE line not finished yet

    # --- the whole parsed result ---------------------------------------------------------
    def parsed(self, out: Any, to: Any = None) -> Any:
        """What ``parse()`` returned: the same object, or our proxy of its stream. Parsed
        ``to`` a type of the app's own, a body is read from the SDK's default parse of it."""
        if self.inv.done:
            return out
        try:
            if self.stream is None:
                self._done(out if to is None else self.response._parse())
                return out
            if self.proxies is not None and self.proxies[0] is out:
                return self.proxies[1]
            _, sync_proxy, async_proxy = self.stream
            st = self._state()
            proxy = async_proxy(out, st) if hasattr(out, "__anext__") else sync_proxy(out, st)
            self.proxies = (out, proxy)
            return proxy
        except Exception:
            report_internal_error("llm response")
            self.closed()
            return out

    def _done(self, resp: Any) -> None:
        try:
            self.read(self.inv, resp)  # type: ignore[misc]
        finally:
            self.inv.end()

    def whole(self, wrapped: Any) -> None:
        """The app has read the whole body (``read()``, ``text()``, ``json()``)."""
        if self.inv.done:
            return
        try:
            if self.stream is None:
                self._done(wrapped._parse())  # the body is in memory; no cache touched
                return
            self.piece(wrapped.http_response.content, "bytes")
            self.exhausted()
        except Exception:
            report_internal_error("llm response")
            self.closed()

    # --- the body as the app iterates it --------------------------------------------------
    def piece(self, piece: Any, kind: str) -> None:
        if self.inv.done:
            return
        try:
            if self.stream is None:
                self.kind = kind
                self.body.append(piece)
            elif not self._sse():
                return
            elif kind == "lines":
                self._line(piece)
            else:
                data = self.rest + (piece if kind == "bytes" else piece.encode("utf-8"))
                lines = data.split(b"\n")
                self.rest = lines.pop()
                for line in lines:
                    self._line((line[:-1] if line.endswith(b"\r") else line).decode("utf-8"))
        except Exception:
            report_internal_error("llm response chunk")

    def _sse(self) -> bool:
        """On first use, take the SDK's own SSE decoder, chunk type and model builder from an
        unstarted stream of this response; False when the body is not SSE."""
        if self.decoder is None:
            self.decoder = False  # a failed set-up reads nothing more
            template = self.response._parse()
            dec = template._decoder
            if not hasattr(dec, "decode"):  # Bedrock's binary event stream
                return False
            if _settings.current().capture_content:  # the exact SDK objects for content
                client, cast_to, http = template._client, template._cast_to, template.response
                self.make = lambda data: client._process_response_data(
                    data=data, cast_to=cast_to, response=http)
            else:
                self.make = View
            self._state()
            self.decoder = dec
        return self.decoder is not False

    def _line(self, line: str) -> None:
        sse = self.decoder.decode(line)
        if sse is None:
            return
        data = sse.data
        if not data or data.startswith("[DONE]") or sse.event in ("ping", "error"):
            return
        obj = json.loads(data)
        if isinstance(obj, dict) and obj.get("error"):
            return
        self.state.item(self.make(obj))  # type: ignore[union-attr]

    def exhausted(self) -> None:
        """The app's iteration ran to the end of the body."""
        if self.inv.done:
            return
        try:
            if self.stream is None:
                if not self.body:
                    self.closed()
                    return
                sep = "\n" if self.kind == "lines" else ""
                text = (b"" if self.kind == "bytes" else sep).join(self.body)
                self.body = []
                r = self.response
                self._done(r._client._process_response_data(
                    data=json.loads(text), cast_to=r._cast_to, response=r.http_response))
                return
            if self.rest and self._sse():
                rest, self.rest = self.rest, b""
                self._line(rest.decode("utf-8"))
            self.closed()
        except Exception:
            report_internal_error("llm response")
            self.closed()

    def _state(self) -> StreamState:
        if self.state is None:
            self.inv.output_parts = []
            self.state = StreamState(self.inv, self.stream[0])  # type: ignore[index]
        return self.state

    # --- ends -----------------------------------------------------------------------------
    def closed(self) -> None:
        """Closed (or done): what was seen, or unread and unpriced when nothing was."""
        if self.inv.done:
            return
        if self.state is not None and self.state.inv.first is not None:
            self.state.end()
        else:
            end_unread(self.inv)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, et: Any, exc: Any, tb: Any) -> None:
        """Around the app's iteration: its end, or its error (GeneratorExit: the app stopped
        early, and its ``close`` / ``with`` exit ends the call)."""
        if et is None:
            self.exhausted()
        elif not issubclass(et, GeneratorExit):
            self.failed(exc)

    def failed(self, exc: BaseException) -> None:
        if not self.inv.done:
            self.inv.end(exc)

    def abandoned(self) -> None:
        if self.inv.done:
            return
        if self.state is not None and self.state.last is not None:
            self.state.abandoned()
        else:
            self.closed()


class _Proxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """What the sync and async proxies share: the iterators are plain calls either way."""

    _self_tee: Callable[[Watch, Any, str], Any]

    def __init__(self, wrapped: Any, watch: Watch) -> None:
        super().__init__(wrapped)
        self._self_watch = watch

    def iter_bytes(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_tee(self._self_watch, self.__wrapped__.iter_bytes(*args, **kwargs),
                              "bytes")

    def iter_text(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_tee(self._self_watch, self.__wrapped__.iter_text(*args, **kwargs),
                              "text")

    def iter_lines(self) -> Any:
        return self._self_tee(self._self_watch, self.__wrapped__.iter_lines(), "lines")

    def __del__(self) -> None:
        try:
            self._self_watch.abandoned()
        except Exception:
            pass


class ResponseProxy(_Proxy):
    """Wraps a sync ``APIResponse`` returned by ``with_streaming_response``."""

    def _self_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.__wrapped__, name)(*args, **kwargs)
        except BaseException as exc:
            self._self_watch.failed(exc)
            raise

    def _self_whole(self, name: str) -> Any:
        out = self._self_call(name)
        self._self_watch.whole(self.__wrapped__)
        return out

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        out = self._self_call("parse", *args, **kwargs)
        return self._self_watch.parsed(out, kwargs.get("to"))

    def read(self) -> Any:
        return self._self_whole("read")

    def text(self) -> Any:
        return self._self_whole("text")

    def json(self) -> Any:
        return self._self_whole("json")

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_watch.closed()


class AsyncResponseProxy(_Proxy):
    """Wraps an ``AsyncAPIResponse`` returned by ``with_streaming_response``."""

    async def _self_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await getattr(self.__wrapped__, name)(*args, **kwargs)
        except BaseException as exc:
            self._self_watch.failed(exc)
            raise

    async def _self_whole(self, name: str) -> Any:
        out = await self._self_call(name)
        self._self_watch.whole(self.__wrapped__)
        return out

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        out = await self._self_call("parse", *args, **kwargs)
        return self._self_watch.parsed(out, kwargs.get("to"))

    async def read(self) -> Any:
        return await self._self_whole("read")

    async def text(self) -> Any:
        return await self._self_whole("text")

    async def json(self) -> Any:
        return await self._self_whole("json")

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_watch.closed()


def _tee(watch: Watch, it: Iterator[Any], kind: str) -> Iterator[Any]:
    """The app's iterator, each piece shown to ``watch`` as it passes."""
    with watch:
        for piece in it:
            watch.piece(piece, kind)
            yield piece


async def _atee(watch: Watch, it: AsyncIterator[Any], kind: str) -> AsyncIterator[Any]:
    with watch:
        async for piece in it:
            watch.piece(piece, kind)
            yield piece


ResponseProxy._self_tee = staticmethod(_tee)
AsyncResponseProxy._self_tee = staticmethod(_atee)


def watch_response(inv: Invocation, response: Any, read: Reader | None = None,
                   stream: tuple[Handler, type, type] | None = None) -> Any:
    """``response`` behind a proxy that ends ``inv`` as the app consumes or closes it."""
    watch = Watch(inv, response, read, stream)
    if type(response).__name__.startswith("Async"):
        return AsyncResponseProxy(response, watch)
    return ResponseProxy(response, watch)
