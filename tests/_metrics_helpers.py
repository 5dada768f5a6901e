"""Metric helpers shared by the SDK and LLM tests."""

from __future__ import annotations

import textwrap
from typing import Any

__all__ = ["COLLECTING_EXPORTERS", "metric_points"]


def metric_points(reader: Any, name: str) -> list[Any]:
    """Every data point of metric ``name`` the reader collects now."""
    data = reader.get_metrics_data()
    out = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    out.extend(metric.data.data_points)
    return out


# The start of a subprocess script: two metric exporters that keep every batch, ``cum``
# (cumulative) and ``delta`` (delta histograms), to hand to ``otelytics.configure``.
COLLECTING_EXPORTERS = textwrap.dedent("""
    import json, otelytics
    from opentelemetry.sdk.metrics.export import (
        MetricExporter, MetricExportResult, AggregationTemporality)
    from opentelemetry.sdk.metrics import Histogram
    class Collect(MetricExporter):
        def __init__(self, delta):
            pref = {Histogram: AggregationTemporality.DELTA} if delta else None
            super().__init__(preferred_temporality=pref)
            self.batches = []
        def export(self, data, timeout_millis=10_000, **kw):
            self.batches.append(data); return MetricExportResult.SUCCESS
        def force_flush(self, timeout_millis=10_000): return True
        def shutdown(self, timeout_millis=30_000, **kw): pass
    cum, delta = Collect(False), Collect(True)
""")
