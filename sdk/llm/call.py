"""``otelytics.llm_call`` for any client we do not instrument, and ``otelytics.tool``.

``llm_call`` gives a hand-made call the same span, metrics, cost and roll-ups as an
instrumented one::

    with otelytics.llm_call(provider="mistral_ai", model="mistral-large-latest") as call:
        resp = my_client.chat(...)
        call.record_usage(input_tokens=resp.usage.prompt_tokens,
                          output_tokens=resp.usage.completion_tokens)
        call.record_response(model=resp.model, id=resp.id, finish_reasons=["stop"])

``tool("search")`` records a function the app runs as a tool as an ``execute_tool search``
span (decorator or context manager, sync or async), nested under the enclosing call.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context

from otelytics._call import report_internal_error
from otelytics.llm._core import Invocation, begin
from otelytics.semconv import attributes as a

__all__ = ["LLMCall", "llm_call", "tool"]


class LLMCall:
    """The handle of one ``llm_call`` block (also usable as ``async with``)."""

    def __init__(self, provider: str, model: str | None, operation: str,
                 server_address: str | None, server_port: int | None,
                 attributes: dict[str, Any] | None) -> None:
        self._args = (provider, operation, model, server_address, server_port, attributes)
        self._inv: Invocation | None = None
        self._token: object = None

    # --- what the user records -------------------------------------------------------
    def record_usage(self, input_tokens: int | None = None, output_tokens: int | None = None,
                     *, cache_read_tokens: int | None = None,
                     cache_creation_tokens: int | None = None,
                     cache_write_tokens: int | None = None,
                     reasoning_tokens: int | None = None) -> None:
        """Token counts with ``input_tokens`` INCLUDING cached tokens (the GenAI meaning).

        ``cache_write_tokens`` is another spelling of ``cache_creation_tokens``.
        """
        if self._inv is None:
            return
        try:
            if cache_creation_tokens is None:
                cache_creation_tokens = cache_write_tokens
            self._inv.set_usage(input_tokens, output_tokens, cache_read_tokens,
                                cache_creation_tokens, reasoning_tokens)
        except Exception:
            report_internal_error("llm_call.record_usage")

    def record_response(self, *, model: str | None = None, id: str | None = None,
                        finish_reasons: Sequence[str] | None = None) -> None:
        if self._inv is None:
            return
        if model is not None:
            self._inv.response_model = str(model)
        if id is not None:
            self._inv.response_id = str(id)
        if finish_reasons is not None:
            self._inv.finish_reasons = [str(r) for r in finish_reasons]

    def record_tool_call(self, name: str, call_id: str | None = None) -> None:
        """A tool call the model asked for (names and ids go on the span)."""
        if self._inv is not None:
            self._inv.add_tool_call(call_id, name)

    def record_first_chunk(self) -> None:
        """Mark the arrival of the first streamed chunk (time to first chunk)."""
        if self._inv is not None and self._inv.first is None:
            import time

            self._inv.first = time.perf_counter()

    def set_attribute(self, key: str, value: Any) -> None:
        if self._inv is not None:
            self._inv.set_attribute(key, value)

    @property
    def span(self) -> Any:
        return self._inv.span if self._inv is not None else None

    # --- the block -------------------------------------------------------------------
    def __enter__(self) -> LLMCall:
        provider, operation, model, host, port, attrs = self._args
        self._inv = begin(provider, operation, model, server_address=host, server_port=port,
                          attributes=attrs)
        if self._inv is not None:
            self._token = otel_context.attach(self._inv.ctx)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        inv, self._inv = self._inv, None
        if inv is None:
            return
        try:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        except Exception:
            report_internal_error("llm_call detach")
        inv.end(exc)

    async def __aenter__(self) -> LLMCall:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def llm_call(*, provider: str, model: str | None = None, operation: str = "chat",
             server_address: str | None = None, server_port: int | None = None,
             attributes: dict[str, Any] | None = None) -> LLMCall:
    """A GenAI call made with any client: ``with llm_call(provider=..., model=...) as c``."""
    return LLMCall(provider, model, operation, server_address, server_port, attributes)


def tool(name: str, *, call_id: str | None = None, tool_type: str = "function") -> Any:
    """``execute_tool {name}`` span around a tool the app runs: decorator or ``with`` block."""
    from otelytics.track import track

    attrs: dict[str, Any] = {
        a.GEN_AI_OPERATION_NAME: "execute_tool",
        a.GEN_AI_TOOL_NAME: name,
        a.GEN_AI_TOOL_TYPE: tool_type,
        a.OTELYTICS_SPAN_TYPE: a.OtelyticsSpanTypeValues.TOOL.value,
    }
    if call_id is not None:
        attrs[a.GEN_AI_TOOL_CALL_ID] = call_id
    return track(name=f"execute_tool {name}", estimator=name, attributes=attrs)
