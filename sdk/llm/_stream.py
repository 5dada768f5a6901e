"""Stream wrappers whose call ends on every exit path, sync and async.

The proxy forwards everything to the SDK's stream (``isinstance`` still holds, attributes and
methods pass through) and only intercepts iteration, ``close`` and the context-manager
protocol. Per chunk it calls one small handler that keeps what the span needs (first-chunk
time, ids, finish reasons, tool-call ids, usage); no events, no dumps.

The call ends when the stream is exhausted, raises, is closed, leaves its ``with`` block, or
is garbage-collected unread (then at the time of the last chunk received). The span's context
is never attached while the caller iterates, so nothing leaks into the app's context.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import wrapt

from otelytics._call import report_internal_error
from otelytics.llm._core import Invocation

__all__ = ["AsyncStreamProxy", "StreamProxy", "StreamState"]

Handler = Callable[["StreamState", Any], None]


class StreamState:
    """What a stream has seen so far; holds no reference to the proxy (so GC can find it)."""

    __slots__ = ("data", "handler", "inv", "last")

    def __init__(self, inv: Invocation, handler: Handler) -> None:
        self.inv = inv
        self.handler = handler
        self.last: float | None = None
        self.data: Any = None  # handler scratch space

    def item(self, item: Any) -> None:
        self.last = now = time.perf_counter()
        inv = self.inv
        if inv.first is None:
            inv.first = now
        try:
            self.handler(self, item)
        except Exception:
            report_internal_error("stream chunk")

    def end(self, exc: BaseException | None = None) -> None:
        if not self.inv.done:
            self.inv.end(exc)

    def abandoned(self) -> None:
        if not self.inv.done:
            self.inv.end(None, end_time=self.last)


class StreamProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps a sync SDK stream (``openai.Stream``, ``anthropic.Stream``)."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            self._self_state.end()
            raise
        except BaseException as exc:
            self._self_state.end(exc)
            raise
        self._self_state.item(item)
        return item

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_state.end()

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_state.end()

    def __del__(self) -> None:
        try:
            self._self_state.abandoned()
        except Exception:
            pass

    def __reduce_ex__(self, protocol: Any) -> Any:  # pragma: no cover - streams don't pickle
        return self.__wrapped__.__reduce_ex__(protocol)


class AsyncStreamProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps an async SDK stream (``openai.AsyncStream``, ``anthropic.AsyncStream``)."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_state.end()
            raise
        except BaseException as exc:
            self._self_state.end(exc)
            raise
        self._self_state.item(item)
        return item

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_state.end()

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_state.end()

    def __del__(self) -> None:
        try:
            self._self_state.abandoned()
        except Exception:
            pass


def raw_stream_of(helper_stream: Any) -> Any:
    """The proxy inside a helper stream (``ChatCompletionStream``, ``MessageStream``), if any."""
    raw = getattr(helper_stream, "_raw_stream", None)
    return raw if isinstance(raw, (StreamProxy, AsyncStreamProxy)) else None


class ManagerProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps a helper's stream manager so leaving its ``with`` block ends the call at once.

    The helpers close the HTTP response, not our proxy; without this the call would end only
    when the helper stream is garbage-collected.
    """

    def __enter__(self) -> Any:
        stream = self.__wrapped__.__enter__()
        self._self_raw = raw_stream_of(stream)
        return stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            raw = getattr(self, "_self_raw", None)
            if raw is not None:
                raw._self_state.end()

    async def __aenter__(self) -> Any:
        stream = await self.__wrapped__.__aenter__()
        self._self_raw = raw_stream_of(stream)
        return stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            raw = getattr(self, "_self_raw", None)
            if raw is not None:
                raw._self_state.end()
