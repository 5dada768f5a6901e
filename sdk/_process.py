"""Process resource figures from psutil: per-call RSS and the opt-in ``process.*`` gauges.

The gauges are observable instruments: psutil is sampled by the metric reader on its own
thread at export time, never on the application's call path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import psutil
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otelytics.semconv import metrics as m
from otelytics.semconv.attributes import CPU_MODE

_proc: psutil.Process | None = None
_proc_pid = -1


def _process() -> psutil.Process:
    global _proc, _proc_pid
    pid = os.getpid()
    if _proc is None or _proc_pid != pid:
        _proc, _proc_pid = psutil.Process(pid), pid
    return _proc


def current_rss() -> int | None:
    try:
        return int(_process().memory_info().rss)
    except Exception:
        return None


class ProcessMetrics:
    """Registers the official ``process.*`` observable instruments on a meter."""

    def __init__(self, meter: Meter) -> None:
        self._last: tuple[float, float, float] | None = None
        try:
            self._cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self._cpus = os.cpu_count() or 1
        meter.create_observable_counter(
            m.PROCESS_CPU_TIME.name, [self._cpu_time], unit=m.PROCESS_CPU_TIME.unit,
            description=m.PROCESS_CPU_TIME.brief)
        meter.create_observable_gauge(
            m.PROCESS_CPU_UTILIZATION.name, [self._cpu_utilization],
            unit=m.PROCESS_CPU_UTILIZATION.unit, description=m.PROCESS_CPU_UTILIZATION.brief)
        for spec, fn in (
            (m.PROCESS_MEMORY_USAGE, self._memory_usage),
            (m.PROCESS_MEMORY_VIRTUAL, self._memory_virtual),
            (m.PROCESS_THREAD_COUNT, self._threads),
            (m.PROCESS_UNIX_FILE_DESCRIPTOR_COUNT, self._fds),
        ):
            meter.create_observable_up_down_counter(
                spec.name, [fn], unit=spec.unit, description=spec.brief)

    def _cpu_time(self, _: CallbackOptions) -> Iterable[Observation]:
        t = _process().cpu_times()
        yield Observation(t.user, {CPU_MODE: "user"})
        yield Observation(t.system, {CPU_MODE: "system"})

    def _cpu_utilization(self, _: CallbackOptions) -> Iterable[Observation]:
        t = _process().cpu_times()
        now = time.monotonic()
        last, self._last = self._last, (now, t.user, t.system)
        if last is None or now <= last[0]:
            return
        span = (now - last[0]) * self._cpus
        yield Observation((t.user - last[1]) / span, {CPU_MODE: "user"})
        yield Observation((t.system - last[2]) / span, {CPU_MODE: "system"})

    def _memory_usage(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(_process().memory_info().rss)

    def _memory_virtual(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(_process().memory_info().vms)

    def _threads(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(_process().num_threads())

    def _fds(self, _: CallbackOptions) -> Iterable[Observation]:
        if hasattr(psutil.Process, "num_fds"):
            yield Observation(_process().num_fds())
