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

    __slots__ = ("_counter", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._counter = itertools.count()

    def next_step_index(self) -> int:
        return next(self._counter)


class Rollup:
    """Totals of the LLM calls made inside one frame; created at the first such call."""

    __slots__ = ("cost_usd", "input_tokens", "llm_calls", "output_tokens", "unpriced_calls")

    def __init__(self) -> None:
        self.llm_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.unpriced_calls = 0


class Frame:
    """One running tracked call, workflow run or session on the current context stack.

    It is also the call's own running state (span, context, timers), so a tracked call
    allocates one object.
    """

    __slots__ = (
        "cpu",
        "ctx",
        "owner",
        "parent",
        "rollup",
        "rss0",
        "session",
        "span",
        "spec",
        "step",
        "t0",
        "token",
        "trace_mem",
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
        self.rollup: Rollup | None = None
        self.rss0: int | None = None
        self.trace_mem = False
        self.cpu = 0.0
        self.owner: object = None  # the context manager that entered this frame, if any


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
            r = f.rollup
            if r is None:
                r = f.rollup = Rollup()
            r.llm_calls += 1
            r.input_tokens += input_tokens
            r.output_tokens += output_tokens
            if cost_usd is None:
                r.unpriced_calls += 1
            else:
                r.cost_usd += cost_usd
            f = f.parent


def _after_fork_in_child() -> None:
    global _rollup_lock
    _rollup_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
