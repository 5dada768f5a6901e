"""Roll-up of LLM usage into the enclosing tracked calls, workflow and session."""

from __future__ import annotations

from otelytics._frames import add_usage, current_frame

__all__ = ["add_llm_usage"]


def add_llm_usage(input_tokens: int, output_tokens: int, cost_usd: float | None) -> None:
    """Record one finished LLM call made in the current context.

    Every enclosing ``track``/``workflow``/``session`` learns its tokens and cost (``None``
    means the call could not be priced: it is counted as unpriced, never as $0).
    """
    add_usage(current_frame(), int(input_tokens or 0), int(output_tokens or 0), cost_usd)
