"""Counts of dropped rows, kept in process and published as ``otelytics.exporter.dropped``.

Dropping is the exporters' answer to a failing disk or object store (they must never raise
into the app or block it); a drop that nobody can see would be silent data loss, so every drop
is counted here by signal and reason, readable with :func:`drop_counts` and exported as an
observable counter on the global MeterProvider (registered on first drop, so an app that never
drops pays nothing).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from otelytics.semconv import attributes as A
from otelytics.semconv import metrics as M

__all__ = ["drop_counts", "record_drop"]

_lock = threading.Lock()
_counts: dict[tuple[str, str], int] = {}
_registered = False


def record_drop(signal: str, reason: str, rows: int) -> None:
    """Add ``rows`` dropped rows of ``signal`` for ``reason`` (a ``OtelyticsDropReasonValues``)."""
    global _registered
    if rows <= 0:
        return
    with _lock:
        key = (signal, reason)
        _counts[key] = _counts.get(key, 0) + rows
        register = not _registered
        _registered = True
    if register:
        try:
            spec = M.OTELYTICS_EXPORTER_DROPPED
            metrics.get_meter("otelytics").create_observable_counter(
                spec.name, [_observe], unit=spec.unit, description=spec.brief)
        except Exception:  # the count stays readable through drop_counts()
            pass


def drop_counts() -> dict[tuple[str, str], int]:
    """``{(signal, reason): rows}`` dropped by this process so far."""
    with _lock:
        return dict(_counts)


def _observe(_: CallbackOptions) -> Iterable[Observation]:
    for (signal, reason), n in drop_counts().items():
        yield Observation(n, {A.OTELYTICS_SIGNAL: signal, A.OTELYTICS_DROP_REASON: reason})


def _reset_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _counts.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
