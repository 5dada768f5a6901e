"""The life of one tracked call: start a span and a frame, finish them, record metrics.

Shared by functions, generators, context managers, workflows and sessions. Nothing here may
raise into user code: a failure inside otelytics is counted, reported once, and the user's
call goes on untracked.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY

from otelytics import _state
from otelytics._frames import FRAME_KEY, Frame, WorkflowRun
from otelytics._metrics import aggregate
from otelytics.semconv import attributes as a

_log = logging.getLogger("otelytics")

_OK = a.OtelyticsEstimatorOutcomeValues.OK.value
_ERROR = a.OtelyticsEstimatorOutcomeValues.ERROR.value

internal_errors = 0
_reported_errors: set[str] = set()


def report_internal_error(where: str) -> None:
    """Count an otelytics failure and log it once per place; never raise."""
    global internal_errors
    internal_errors += 1
    try:
        if where not in _reported_errors:
            _reported_errors.add(where)
            _log.warning(
                "otelytics: internal error in %s; the call went on untracked\n%s",
                where, traceback.format_exc(),
            )
    except Exception:  # pragma: no cover - logging itself failed
        pass


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    mod = cls.__module__
    return cls.__qualname__ if mod in (None, "builtins") else f"{mod}.{cls.__qualname__}"


def is_failure(exc: BaseException | None) -> bool:
    """Closing a generator or exiting with status 0 is a normal end, not an error."""
    if exc is None or isinstance(exc, GeneratorExit):
        return False
    return not (isinstance(exc, SystemExit) and exc.code in (0, None))


class Spec:
    """What is fixed for one tracked operation; built once per decorated function."""

    __slots__ = (
        "attributes",
        "code",
        "estimator",
        "is_workflow",
        "metric_name",
        "name",
        "record_cpu",
    )

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        estimator: str | None = None,
        is_workflow: bool = False,
        record_cpu: bool = True,
        code: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.code = code  # code.* attributes, added when capture_code is on
        self.estimator = estimator or name
        self.is_workflow = is_workflow
        self.record_cpu = record_cpu
        self.attributes = attributes
        # the metric label, bounded; None: this operation records no metrics
        self.metric_name: str | None = _state.metric_name_label(self.estimator)


Call = Frame  # a running call is its frame


def start(
    spec: Spec,
    attributes: dict[str, Any] | None = None,
    session: Any = None,
    capture_memory: bool = False,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Call | None:
    """Start the span and frame of a call; ``None`` when disabled or on internal error.

    The returned call's context is not attached: the caller attaches it around the code
    that runs "inside" the call (once for a function, once per step for a generator).
    """
    try:
        parent_ctx = otel_context.get_current()
        parent: Frame | None = parent_ctx.get(FRAME_KEY)  # type: ignore[assignment]
        workflow = None
        if parent is not None:
            workflow = parent.workflow
            if session is None:
                session = parent.session
        step = False
        attrs = spec.attributes
        if (attributes or session is not None or workflow is not None or spec.is_workflow
                or (spec.code and _state.settings.capture_code)):
            attrs, workflow, step = _context_attributes(
                spec, parent, attributes, session, workflow)
        span = _state.tracer.start_span(spec.name, context=parent_ctx, kind=kind, attributes=attrs)
        frame = Frame(parent, span, session, workflow, step)
        frame.spec = spec
        # one copy of the context instead of two (set_span_in_context + set_value)
        frame.ctx = otel_context.Context({**parent_ctx, _SPAN_KEY: span, FRAME_KEY: frame})
        if capture_memory:
            _start_memory(frame)
        frame.t0 = time.perf_counter()
        return frame
    except Exception:
        report_internal_error("start")
        return None


def _context_attributes(
    spec: Spec, parent: Frame | None, attributes: dict[str, Any] | None, session: Any,
    workflow: WorkflowRun | None,
) -> tuple[dict[str, Any], WorkflowRun | None, bool]:
    """Attributes that depend on the enclosing session and workflow, and on options."""
    attrs = dict(spec.attributes)
    if spec.code and _state.settings.capture_code:
        attrs.update(spec.code)
    if attributes:
        attrs.update(attributes)
    step = False
    if session is not None:
        attrs[a.SESSION_ID] = session.id
        if session.user_id is not None:
            attrs[a.USER_ID] = session.user_id
    if spec.is_workflow:
        workflow = WorkflowRun(spec.name)
        attrs[a.OTELYTICS_WORKFLOW_NAME] = spec.name
    elif workflow is not None:
        attrs[a.OTELYTICS_WORKFLOW_NAME] = workflow.name
        step = True
        if not parent.step:  # type: ignore[union-attr]
            attrs[a.OTELYTICS_WORKFLOW_STEP] = spec.estimator
            attrs[a.OTELYTICS_WORKFLOW_STEP_INDEX] = workflow.next_step_index()
    return attrs, workflow, step


def _start_memory(call: Call) -> None:
    import tracemalloc

    from otelytics._process import current_rss

    call.rss0 = current_rss()
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    tracemalloc.reset_peak()
    call.trace_mem = True


_ENDED_CTX = otel_context.Context()


def finish(call: Call, exc: BaseException | None) -> None:
    """End the call's span, record its metrics and feed its session; never raises."""
    try:
        elapsed = time.perf_counter() - call.t0
        end_ns = time.time_ns()  # the span ends when the call did, not after our bookkeeping
        span = call.span
        failed = exc is not None and is_failure(exc)
        spec = call.spec
        if span.is_recording():
            if failed or call.rollup is not None or call.rss0 is not None:
                _finish_attributes(call, span, exc if failed else None)
            elif spec.record_cpu:
                span.set_attribute(a.OTELYTICS_PROCESS_CPU_TIME, call.cpu)
        span.end(end_ns)
        metric_name = spec.metric_name
        if metric_name is not None:
            if failed:
                etype = _state.error_type_label(error_type(exc))  # type: ignore[arg-type]
                aggregate.record((metric_name, _ERROR, etype), elapsed)
            else:
                aggregate.record((metric_name, _OK, None), elapsed)
        session = call.session
        if session is not None and span is not session._span:
            session._record_call(elapsed, failed)
    except Exception:
        report_internal_error("finish")
    # the context holds this frame (FRAME_KEY): a reference cycle that would leave the frame
    # and its span to the cyclic GC; every caller has detached it before finishing
    call.ctx = _ENDED_CTX


def _finish_attributes(call: Call, span: Span, exc: BaseException | None) -> None:
    attrs: dict[str, Any] = {}
    if call.spec.record_cpu:
        attrs[a.OTELYTICS_PROCESS_CPU_TIME] = call.cpu
    if call.rss0 is not None:
        _finish_memory(call, attrs)
    r = call.rollup
    if r is not None:
        attrs[a.OTELYTICS_ROLLUP_LLM_CALLS] = r.llm_calls
        attrs[a.OTELYTICS_ROLLUP_INPUT_TOKENS] = r.input_tokens
        attrs[a.OTELYTICS_ROLLUP_OUTPUT_TOKENS] = r.output_tokens
        attrs[a.OTELYTICS_ROLLUP_COST_USD] = r.cost_usd
        attrs[a.OTELYTICS_ROLLUP_UNPRICED_CALLS] = r.unpriced_calls
    if exc is not None:
        etype = error_type(exc)
        attrs[a.ERROR_TYPE] = etype
        span.record_exception(exc, escaped=True)
        span.set_status(Status(StatusCode.ERROR, f"{etype}: {exc}"))
    span.set_attributes(attrs)


def _finish_memory(call: Call, attrs: dict[str, Any]) -> None:
    import tracemalloc

    from otelytics._process import current_rss

    rss = current_rss()
    if rss is not None and call.rss0 is not None:
        attrs[a.OTELYTICS_PROCESS_MEMORY_RSS_DELTA] = rss - call.rss0
    if call.trace_mem and tracemalloc.is_tracing():
        attrs[a.OTELYTICS_PROCESS_MEMORY_PEAK] = tracemalloc.get_traced_memory()[1]


def attach(call: Call) -> object:
    return otel_context.attach(call.ctx)


def detach(token: object) -> None:
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    except Exception:
        report_internal_error("detach")

