"""The receiver's own counters as OpenTelemetry metrics, written into the dataset it serves.

``/metrics`` shows the counters now; written into ``<root>/metrics/`` they become history that
the same queries read (``otelytics.receiver.items.received`` per signal over a week, the spool
backlog during an incident). An OTel ``MeterProvider`` of the receiver's own (never the
global one) reads :class:`~otelytics.exporter.receiver.service.Receiver`'s counters through
observable instruments every ``interval_s`` and at shutdown, and writes them through the
:class:`~otelytics.exporter.ParquetMetricExporter` (counters as deltas, so a ``SUM`` over rows
is the total; the backlog as a gauge-like up-down counter). Resource: ``service.name``
``otelytics-serve`` and ``service.instance.id`` = the receiver id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otelytics.exporter.metrics import ParquetMetricExporter
from otelytics.semconv import attributes as A
from otelytics.semconv import metrics as M

__all__ = ["SERVICE_NAME", "SelfMetrics"]

SERVICE_NAME = "otelytics-serve"
_COUNTERS = (M.OTELYTICS_RECEIVER_ITEMS_RECEIVED, M.OTELYTICS_RECEIVER_ITEMS_REJECTED,
             M.OTELYTICS_RECEIVER_ITEMS_SPOOLED, M.OTELYTICS_RECEIVER_ITEMS_WRITTEN,
             M.OTELYTICS_RECEIVER_REQUESTS_REFUSED)
_SIGNALS = ("spans", "metrics", "logs")


class SelfMetrics:
    """Periodic export of one receiver's counters into ``data_dir``; :meth:`shutdown` writes
    the last values and publishes the file."""

    def __init__(self, receiver: Any, data_dir: str, interval_s: float) -> None:
        self._receiver = receiver
        reader = PeriodicExportingMetricReader(
            ParquetMetricExporter(root=data_dir),
            export_interval_millis=max(100.0, interval_s * 1000))
        resource = Resource.create({"service.name": SERVICE_NAME,
                                    "service.instance.id": receiver.receiver_id})
        self.provider = MeterProvider(resource=resource, metric_readers=[reader],
                                      shutdown_on_exit=False)
        meter = self.provider.get_meter("otelytics.receiver")
        for spec in _COUNTERS:
            meter.create_observable_counter(spec.name, [self._counter(spec.name)],
                                            unit=spec.unit, description=spec.brief)
        backlog = M.OTELYTICS_RECEIVER_SPOOL_BACKLOG
        meter.create_observable_up_down_counter(backlog.name, [self._backlog],
                                                unit=backlog.unit, description=backlog.brief)

    def _counter(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_: CallbackOptions) -> Iterable[Observation]:
            stats = self._receiver.stats
            return [Observation(stats.get(name, s), {A.OTELYTICS_SIGNAL: s}) for s in _SIGNALS]
        return observe

    def _backlog(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._receiver.spool.backlog_bytes)]

    def shutdown(self) -> None:
        """Collect once more, write and publish. Never raises (the receiver's exit code is
        about the telemetry it was sent, not about its own)."""
        try:
            self.provider.shutdown()
        except Exception:  # pragma: no cover - the SDK logs its own failures
            pass
