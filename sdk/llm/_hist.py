"""GenAI histograms aggregated in process, like the estimator durations of ``otelytics._metrics``.

A synchronous OTel histogram ``record`` costs ~6-25 µs here (measurement object, attribute
hashing, aggregation lookup) and a non-streamed call records four of them: as much as the
span. When otelytics built the metric pipeline (``configure()`` or the distro: the exporters
are wrapped by ``HistogramBridgeExporter``), a record is a bisect and four additions under a
lock, and the bridge appends the exact cumulative (or delta) histograms to every export.
Otherwise (the app built its own MeterProvider) records go to the regular OTel instruments.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from typing import Any

from opentelemetry.sdk.metrics.export import Metric

from otelytics import _metrics, _state
from otelytics.semconv import metrics as m

__all__ = ["Aggregate", "cost_per_call", "duration", "tokens", "ttfc"]


class Aggregate:
    """Exact histogram of one metric spec, by label set."""

    def __init__(self, spec: m.MetricSpec) -> None:
        self.spec = spec
        self.bounds = tuple(float(b) for b in spec.bucket_boundaries or ())
        self._lock = threading.Lock()
        self._series: dict[tuple[Any, ...], _metrics._Series] = {}
        self._labels: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.start_ns = time.time_ns()

    def record(self, value: float, labels: dict[str, Any],
               key: tuple[Any, ...] | None = None) -> None:
        """``key`` is ``tuple(labels.items())`` when the caller has it cached."""
        if not _metrics.aggregate.bridged:
            _state.instrument(self.spec).record(value, labels)
            return
        if key is None:
            key = tuple(labels.items())
        i = bisect_left(self.bounds, value)
        with self._lock:
            s = self._series.get(key)
            if s is None:
                s = self._series[key] = _new_series(len(self.bounds))
                self._labels[key] = dict(labels)
            s.count += 1
            s.sum += value
            if value < s.min:
                s.min = value
            if value > s.max:
                s.max = value
            s.buckets[i] += 1

    def snapshot(self) -> dict[tuple[Any, ...], _metrics._Series]:
        with self._lock:
            return {k: s.copy() for k, s in self._series.items()}

    def metric(self, exporter: Any, delta: bool) -> Metric | None:
        """This histogram's points for one export of ``exporter`` (delta state kept on it)."""
        now = time.time_ns()
        snap = self.snapshot()
        state = exporter.__dict__.setdefault("_otelytics_llm_last", {})
        last, last_ns = state.get(self.spec.name, ({}, self.start_ns))
        points = _metrics.histogram_points(
            snap, last if delta else None, self._labels.__getitem__,
            last_ns if delta else self.start_ns, now, self.bounds)
        if delta:
            state[self.spec.name] = (snap, now)
        if not points:
            return None
        return _metrics.histogram_metric(self.spec, points, delta)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


def _new_series(n: int) -> _metrics._Series:
    s = _metrics._Series()
    if len(s.buckets) != n + 1:
        s.buckets = [0] * (n + 1)
    return s


duration = Aggregate(m.GEN_AI_CLIENT_OPERATION_DURATION)
tokens = Aggregate(m.GEN_AI_CLIENT_TOKEN_USAGE)
ttfc = Aggregate(m.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)
cost_per_call = Aggregate(m.OTELYTICS_LLM_COST_PER_CALL)
_ALL = (duration, tokens, ttfc, cost_per_call)


def _hook(exporter: Any, delta: bool) -> list[Metric]:
    out = []
    for agg in _ALL:
        metric = agg.metric(exporter, delta)
        if metric is not None:
            out.append(metric)
    return out


_metrics.EXTRA_HISTOGRAMS.append(_hook)


def _after_fork() -> None:
    for agg in _ALL:
        agg.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork)
