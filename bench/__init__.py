"""Benchmarks: ``python -m bench [name ...]`` prints figures as JSON.

Each module ``bench/<name>.py`` exposes ``run() -> dict``. Figures that compare two things are
measured in the same run, interleaved, and reported as ratios: absolute times on a shared
2-core machine are noisy, ratios much less so.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["MODULES", "interleaved", "per_call_seconds"]

MODULES = ("sdk", "exporter", "llm", "analysis", "receiver")


def per_call_seconds(fn: Callable[[], object], calls: int) -> float:
    """Wall time per call of ``fn`` over ``calls`` calls (a loop, no per-call timing)."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def interleaved(
    fns: dict[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    """Median per-call seconds of each function, measured in alternating rounds."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        per_call_seconds(fn, max(calls // 10, 1))
    for _ in range(rounds):
        for k, fn in fns.items():
            samples[k].append(per_call_seconds(fn, calls))
    return {k: statistics.median(v) for k, v in samples.items()}
