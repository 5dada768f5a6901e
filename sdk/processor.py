"""A span processor that puts session and workflow membership on spans otelytics did not start.

Spans from other instrumentations (HTTP clients, LLM SDKs' own telemetry, database drivers)
started inside ``otelytics.session`` / ``otelytics.workflow`` get ``session.id``,
``user.id`` and ``otelytics.workflow.*`` too, so analysis can group all of them. Spans that
otelytics started already carry them and are skipped.
"""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otelytics import _state
from otelytics._call import report_internal_error
from otelytics._frames import FRAME_KEY
from otelytics.semconv import attributes as a

__all__ = ["MembershipSpanProcessor"]


class MembershipSpanProcessor(SpanProcessor):
    """Stamps session/user/workflow attributes on foreign spans at start; costs one lookup."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        try:
            scope = span.instrumentation_scope
            if scope is not None and scope.name == _state.SCOPE:
                return
            frame = otel_context.get_value(FRAME_KEY, parent_context)
            if frame is None:
                return
            attrs = span.attributes or {}
            session = frame.session  # type: ignore[attr-defined]
            if session is not None and a.SESSION_ID not in attrs:
                span.set_attribute(a.SESSION_ID, session.id)
                if session.user_id is not None:
                    span.set_attribute(a.USER_ID, session.user_id)
            run = frame.workflow  # type: ignore[attr-defined]
            if run is None or a.OTELYTICS_WORKFLOW_NAME in attrs:
                return
            span.set_attribute(a.OTELYTICS_WORKFLOW_NAME, run.name)
            owner = frame.span  # type: ignore[attr-defined]
            # a direct child of the workflow span (not nested in a step) is a step
            parent = span.parent
            if (not frame.step and owner is not None and parent is not None  # type: ignore[attr-defined]
                    and parent.span_id == owner.get_span_context().span_id):
                span.set_attribute(a.OTELYTICS_WORKFLOW_STEP, span.name)
                span.set_attribute(a.OTELYTICS_WORKFLOW_STEP_INDEX, run.next_step_index())
        except Exception:
            report_internal_error("membership processor")

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
