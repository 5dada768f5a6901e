"""Cost of a tracked call against a bare OpenTelemetry span, and of a disabled tracked call.

Both paths run under the providers ``otelytics.configure()`` builds with default options
(BatchSpanProcessor, periodic metric reader), exporters that discard, interleaved in one
process. The function bodies are empty, the
harshest case for a ratio: any real work makes it smaller.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from bench import interleaved

CALLS = 20_000
ROUNDS = 7


class _DiscardSpans(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _DiscardMetrics(MetricExporter):
    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: object) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        return None


def run() -> dict[str, float]:
    """otelytics.configure() with default options and exporters that discard."""
    import otelytics

    otelytics.configure(exporters=[_DiscardSpans(), _DiscardMetrics()])
    provider = trace.get_tracer_provider()
    tracer = trace.get_tracer("bench")

    def bare() -> None:
        with tracer.start_as_current_span("work"):
            pass

    @otelytics.track
    def tracked() -> None:
        pass

    def plain() -> None:
        pass

    @otelytics.track
    def tracked_disabled() -> None:
        pass

    t = interleaved({"bare_span": bare, "tracked": tracked}, CALLS, ROUNDS)
    otelytics.disable()
    d = interleaved({"plain": plain, "disabled": tracked_disabled}, CALLS * 5, ROUNDS)
    otelytics.enable()
    provider.shutdown()  # type: ignore[attr-defined]
    return {
        "bare_span_us": round(t["bare_span"] * 1e6, 3),
        "tracked_us": round(t["tracked"] * 1e6, 3),
        "tracked_over_bare_ratio": round(t["tracked"] / t["bare_span"], 3),
        "goal_ratio": 1.15,
        "disabled_extra_us": round((d["disabled"] - d["plain"]) * 1e6, 3),
        "goal_disabled_extra_us": 1.0,
    }
