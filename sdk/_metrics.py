"""Estimator metrics aggregated in process, published at collection time.

A synchronous OTel histogram ``record`` plus counter ``add`` cost about as much as the span
itself (attribute hashing, measurement objects, exemplar checks; see docs/sdk.md). A tracked
call instead adds its duration to an exact in-process aggregate (a dict lookup, a bisect and
four additions under a lock). The aggregate is published:

- ``otelytics.estimator.calls`` as an observable counter (any MeterProvider);
- ``otelytics.estimator.duration`` as a histogram appended to each export by
  :class:`HistogramBridgeExporter`, which otelytics wraps around the metric exporters it
  installs. When the MeterProvider was built by someone else there is nothing to wrap, so
  durations are recorded on a regular OTel histogram instead (``bridged`` is False).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelytics import __version__, _state
from otelytics.semconv import attributes as a
from otelytics.semconv import metrics as m

_BOUNDS = tuple(float(b) for b in m.OTELYTICS_ESTIMATOR_DURATION.bucket_boundaries or ())

Key = tuple[str, str, str | None]  # estimator name, outcome, error type


class _Series:
    __slots__ = ("buckets", "count", "max", "min", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.buckets = [0] * (len(_BOUNDS) + 1)

    def copy(self) -> _Series:
        s = _Series()
        s.count, s.sum, s.min, s.max, s.buckets = (
            self.count, self.sum, self.min, self.max, list(self.buckets))
        return s


def _labels(key: Key) -> dict[str, str]:
    name, outcome, etype = key
    out = {a.OTELYTICS_ESTIMATOR_NAME: name, a.OTELYTICS_ESTIMATOR_OUTCOME: outcome}
    if etype is not None:
        out[a.ERROR_TYPE] = etype
    return out


class EstimatorMetrics:
    """Exact cumulative aggregates of tracked-call durations, by (name, outcome, error)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[Key, _Series] = {}
        self._labels: dict[Key, dict[str, str]] = {}
        self.start_ns = time.time_ns()
        self.bridged = False
        self._counter_registered = False

    def record(self, key: Key, seconds: float) -> None:
        i = bisect_left(_BOUNDS, seconds)
        with self._lock:
            s = self._series.get(key)
            if s is None:
                s = self._series[key] = _Series()
                self._labels[key] = _labels(key)
                if not self._counter_registered:
                    self._counter_registered = True
                    self._register_counter()
            s.count += 1
            s.sum += seconds
            if seconds < s.min:
                s.min = seconds
            if seconds > s.max:
                s.max = seconds
            s.buckets[i] += 1
        if not self.bridged:
            _state.instrument(m.OTELYTICS_ESTIMATOR_DURATION).record(seconds, self._labels[key])

    def snapshot(self) -> dict[Key, _Series]:
        with self._lock:
            return {k: s.copy() for k, s in self._series.items()}

    def _register_counter(self) -> None:
        """The observable calls counter; a proxy meter forwards it to a later provider."""
        spec = m.OTELYTICS_ESTIMATOR_CALLS
        _state.meter().create_observable_counter(
            spec.name, [self._observe_calls], unit=spec.unit, description=spec.brief)

    def _observe_calls(self, _: CallbackOptions) -> Iterable[Observation]:
        for key, s in self.snapshot().items():
            yield Observation(s.count, self._labels[key])

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


aggregate = EstimatorMetrics()

EXTRA_HISTOGRAMS: list[Any] = []
"""Hooks ``hook(exporter, delta) -> list[Metric]`` adding other in-process histograms to
every export of a bridged exporter (``otelytics.llm`` registers the GenAI ones)."""


def _scope() -> InstrumentationScope:
    return InstrumentationScope(_state.SCOPE, __version__)


def histogram_points(snap: dict[Any, _Series], last: dict[Any, _Series] | None,
                     labels: Callable[[Any], dict[str, Any]], start_ns: int, now: int,
                     bounds: tuple[float, ...]) -> list[HistogramDataPoint]:
    """The data points of an aggregate snapshot; with ``last`` (the previous export's
    snapshot) the delta since it, label sets with no new call left out."""
    points = []
    for key, s in snap.items():
        if last is not None:
            prev = last.get(key)
            if prev is not None:
                d = s.copy()
                d.count -= prev.count
                d.sum -= prev.sum
                d.buckets = [x - y for x, y in zip(s.buckets, prev.buckets, strict=True)]
                s = d
            if s.count == 0:
                continue
        points.append(HistogramDataPoint(
            attributes=labels(key), start_time_unix_nano=start_ns, time_unix_nano=now,
            count=s.count, sum=s.sum, bucket_counts=list(s.buckets),
            explicit_bounds=list(bounds), min=s.min, max=s.max,
        ))
    return points


def histogram_metric(spec: m.MetricSpec, points: list[HistogramDataPoint],
                     delta: bool) -> Metric:
    """A histogram metric of ``spec`` holding ``points``."""
    return Metric(
        name=spec.name, description=spec.brief, unit=spec.unit,
        data=Histogram(
            data_points=points,
            aggregation_temporality=(AggregationTemporality.DELTA if delta
                                     else AggregationTemporality.CUMULATIVE),
        ),
    )


class HistogramBridgeExporter(MetricExporter):
    """Wraps a metric exporter and adds the ``otelytics.estimator.duration`` histogram."""

    def __init__(self, inner: MetricExporter, resource: Resource) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self._inner = inner
        self._resource = resource
        temporality = (getattr(inner, "_preferred_temporality", None) or {}).get(
            HistogramInstrument, AggregationTemporality.CUMULATIVE)
        self._delta = temporality == AggregationTemporality.DELTA
        self._last: dict[Key, _Series] = {}
        self._last_ns = aggregate.start_ns

    @property
    def inner(self) -> MetricExporter:
        return self._inner

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        try:
            metrics_data = self._with_histogram(metrics_data)
        except Exception:
            from otelytics._call import report_internal_error

            report_internal_error("histogram bridge")
        return self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def _points(self) -> list[HistogramDataPoint]:
        now = time.time_ns()
        snap = aggregate.snapshot()
        start = self._last_ns if self._delta else aggregate.start_ns
        points = histogram_points(snap, self._last if self._delta else None, _labels, start,
                                  now, _BOUNDS)
        if self._delta:
            self._last, self._last_ns = snap, now
        return points

    def _with_histogram(self, data: MetricsData) -> MetricsData:
        if not aggregate.bridged:
            return data
        points = self._points()
        added = ([histogram_metric(m.OTELYTICS_ESTIMATOR_DURATION, points, self._delta)]
                 if points else [])
        for hook in EXTRA_HISTOGRAMS:  # other in-process histograms (GenAI metrics)
            added.extend(hook(self, self._delta))
        if not added:
            return data
        rms = list(data.resource_metrics)
        if not rms:
            rms = [ResourceMetrics(resource=self._resource, scope_metrics=[], schema_url="")]
        first = rms[0]
        scopes = list(first.scope_metrics)
        for i, sm in enumerate(scopes):
            if sm.scope.name == _state.SCOPE:
                scopes[i] = ScopeMetrics(scope=sm.scope, metrics=[*sm.metrics, *added],
                                         schema_url=sm.schema_url)
                break
        else:
            scopes.append(ScopeMetrics(scope=_scope(), metrics=added, schema_url=""))
        rms[0] = ResourceMetrics(resource=first.resource, scope_metrics=scopes,
                                 schema_url=first.schema_url)
        return MetricsData(resource_metrics=rms)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)
