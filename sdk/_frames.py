"""Frames: what otelytics knows about the enclosing tracked calls, workflow and session.

A frame is stored in the OpenTelemetry context next to the current span, so it travels
wherever the OTel context travels (``contextvars.copy_context``, asyncio tasks, the OTel
threading instrumentation). Each frame caches the nearest session and workflow run, so a
tracked call finds them in O(1), and keeps roll-up totals of the LLM calls made inside it.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from otelytics.session import Session

FRAME_KEY = otel_context.create_key("otelytics-frame")

_rollup_lock = threading.Lock()


class WorkflowRun:
    """One execution of a workflow; numbers its steps in start order."""

    __slots__ = ("_counter", "name", "span_id")

    def __init__(self, name: str, span_id: int) -> None:
        self.name = name
        self.span_id = span_id
        self._counter = itertools.count()

    def next_step_index(self) -> int:
        return next(self._counter)


class Frame:
    """One tracked call, workflow run or session on the current context stack."""

    __slots__ = (
        "cost_usd",
        "input_tokens",
        "llm_calls",
        "output_tokens",
        "parent",
        "session",
        "span",
        "step",
        "unpriced_calls",
        "workflow",
    )

    def __init__(
        self,
        parent: Frame | None,
        span: Span | None,
        session: Session | None,
        workflow: WorkflowRun | None,
        step: bool,
    ) -> None:
        self.parent = parent
        self.span = span
        self.session = session
        self.workflow = workflow
        self.step = step  # this frame is, or is inside, a step of ``workflow``
        self.llm_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.unpriced_calls = 0


def current_frame(ctx: otel_context.Context | None = None) -> Frame | None:
    return otel_context.get_value(FRAME_KEY, ctx)  # type: ignore[return-value]


def add_usage(
    frame: Frame | None, input_tokens: int, output_tokens: int, cost_usd: float | None
) -> None:
    """Add one LLM call's usage to ``frame`` and every frame enclosing it (sessions included)."""
    if frame is None:
        return
    with _rollup_lock:
        f: Frame | None = frame
        while f is not None:
            f.llm_calls += 1
            f.input_tokens += input_tokens
            f.output_tokens += output_tokens
            if cost_usd is None:
                f.unpriced_calls += 1
            else:
                f.cost_usd += cost_usd
            f = f.parent


def _after_fork_in_child() -> None:
    global _rollup_lock
    _rollup_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
