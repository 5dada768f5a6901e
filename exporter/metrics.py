"""``ParquetMetricExporter``: metric points (every point type) into ``<root>/metrics/``."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)

from otelytics.exporter._base import ExportCore
from otelytics.exporter.convert import metrics_to_table

__all__ = ["PREFERRED_TEMPORALITY", "ParquetMetricExporter"]

_DELTA = AggregationTemporality.DELTA
_CUMULATIVE = AggregationTemporality.CUMULATIVE

PREFERRED_TEMPORALITY: dict[type, AggregationTemporality] = {
    Counter: _DELTA,
    ObservableCounter: _DELTA,
    Histogram: _DELTA,
    UpDownCounter: _CUMULATIVE,
    ObservableUpDownCounter: _CUMULATIVE,
    ObservableGauge: _CUMULATIVE,
}
"""Delta for counters and histograms: in files, the total over any window is a plain SUM of
rows (no per-series last-minus-first, no reset handling across restarts) and idle series
write nothing. Up-down counters stay cumulative: their value is a level, not a flow."""


def _points(metrics_data: MetricsData) -> int:
    return sum(len(m.data.data_points) for rm in metrics_data.resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics)


class ParquetMetricExporter(MetricExporter):
    """Writes metric points to the Parquet dataset; registered as the ``parquet`` metrics
    exporter. Same options as :class:`~otelytics.exporter.ParquetSpanExporter`; sums, gauges,
    histograms and exponential histograms share one table, temporality recorded per row."""

    def __init__(self, root: str | None = None, *,
                 preferred_temporality: dict[type, AggregationTemporality] | None = None,
                 preferred_aggregation: dict[type, Any] | None = None, **options: Any) -> None:
        super().__init__(
            preferred_temporality={**PREFERRED_TEMPORALITY, **(preferred_temporality or {})},
            preferred_aggregation=preferred_aggregation)
        self._core = ExportCore("metrics", metrics_to_table, {"root": root, **options})

    @property
    def root(self) -> str:
        return self._core.options.root

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        try:
            rows = _points(metrics_data)
        except Exception:
            rows = 0
        ok = self._core.export(metrics_data, rows)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._core.flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._core.shutdown(timeout_millis)
