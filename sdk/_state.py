"""Process-wide runtime state: settings, the enabled flag, our tracer and instruments.

Kept in one small module so the hot path reads plain module attributes. Instruments come
from the global API providers, so they follow whatever provider the app or
``opentelemetry-instrument`` installs, before or after otelytics is imported.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry import metrics, trace

from otelytics import __version__
from otelytics._settings import Settings, resolve_settings
from otelytics.semconv import metrics as m

SCOPE = "otelytics"
OTHER = "_other"

settings: Settings = resolve_settings()
enabled: bool = settings.enabled

tracer: trace.Tracer = trace.get_tracer(SCOPE, __version__)
_meter: metrics.Meter | None = None
_instruments: dict[str, Any] = {}
_lock = threading.Lock()


def refresh_tracer() -> None:
    """Take a tracer from the real provider (a ProxyTracer costs an indirection per span)."""
    global tracer
    tracer = trace.get_tracer(SCOPE, __version__)


def set_settings(new: Settings) -> None:
    global settings, enabled
    settings = new
    enabled = new.enabled
    _names.limit = new.max_metric_names


def meter() -> metrics.Meter:
    global _meter
    if _meter is None:
        _meter = metrics.get_meter(SCOPE, __version__)
    return _meter


def instrument(spec: m.MetricSpec) -> Any:
    """The instrument for a semconv metric spec, created once (with its bucket advice)."""
    inst = _instruments.get(spec.name)
    if inst is not None:
        return inst
    with _lock:
        inst = _instruments.get(spec.name)
        if inst is None:
            mt = meter()
            if spec.instrument == "histogram":
                inst = mt.create_histogram(
                    spec.name, unit=spec.unit, description=spec.brief,
                    explicit_bucket_boundaries_advisory=list(spec.bucket_boundaries or ()),
                )
            elif spec.instrument == "counter":
                inst = mt.create_counter(spec.name, unit=spec.unit, description=spec.brief)
            elif spec.instrument == "updowncounter":
                inst = mt.create_up_down_counter(spec.name, unit=spec.unit, description=spec.brief)
            else:
                raise ValueError(f"{spec.name}: synchronous {spec.instrument} not supported")
            _instruments[spec.name] = inst
    return inst


class LabelLimiter:
    """Bounds the distinct values one metric label may take; the rest become ``_other``.

    Metric label cardinality must stay bounded whatever names users pass to ``track``.
    """

    __slots__ = ("_lock", "_seen", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


_names = LabelLimiter(settings.max_metric_names)
_error_types = LabelLimiter(100)


def metric_name_label(value: str) -> str:
    return _names(value)


def error_type_label(value: str) -> str:
    return _error_types(value)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _names._after_fork()
    _error_types._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
