"""Performance and workflow rules: slow p95 tails and sequential (N+1) sibling calls."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from otelytics.analysis.dataset import Window
from tests.builders import span
from tests.suggest.conftest import at, only


def test_slow_p95_fires_with_numpy_percentiles(run):
    durations = [100 + i for i in range(37)] + [2000, 2500, 3000]
    rows = [span("load", duration_ms=d) for d in durations]
    [s] = only(run(rows), "slow-p95")
    secs = np.array(durations) / 1000
    p50, p95 = np.percentile(secs, 50), np.percentile(secs, 95)
    assert s.evidence["p50_s"] == pytest.approx(p50)
    assert s.evidence["p95_s"] == pytest.approx(p95)
    tail = secs[secs >= p95]
    assert s.affected == len(tail)
    assert s.saving_seconds == pytest.approx(float(np.sum(tail - p50)))
    slowest = max(rows, key=lambda r: r["duration_us"])
    assert s.examples[0] == slowest["trace_id"]


@pytest.mark.parametrize("case", ["uniform", "fast", "few"])
def test_slow_p95_silent(run, case):
    if case == "uniform":
        durations = [100 + 3 * i for i in range(40)]
    elif case == "fast":  # heavy tail but p95 under 0.1 s: not worth a suggestion
        durations = [1] * 37 + [50, 60, 70]
    else:
        durations = [100] * 15 + [3000] * 4
    assert only(run([span("op", duration_ms=d) for d in durations]), "slow-p95") == []


def _family(trace: str, starts: list[float], dur_ms: float, child: str = "embed",
            parent_name: str = "batch", **kw) -> list[dict]:
    parent = span(parent_name, trace_id=trace, start=at(starts[0]), duration_ms=10_000)
    kids = [span(child, trace_id=trace, parent_span_id=parent["span_id"], start=at(s),
                 duration_ms=dur_ms, **kw) for s in starts]
    return [parent, *kids]


def test_sequential_siblings_fire_with_parallel_saving(run):
    rows = _family("1" * 32, [0.2 * i for i in range(6)], 150)
    rows += _family("2" * 32, [100 + 0.3 * i for i in range(8)], 250)
    [s] = only(run(rows), "sequential-calls")
    assert s.subject == {"service": "svc", "parent": "batch", "name": "embed"}
    assert s.evidence["parents"] == 2 and s.evidence["calls"] == 14
    assert s.evidence["max_per_parent"] == 8
    assert s.saving_seconds == pytest.approx((6 * 0.15 - 0.15) + (8 * 0.25 - 0.25))
    assert s.examples[0] == "2" * 32  # the larger saving first


@pytest.mark.parametrize("case", ["overlapping", "few", "with_errors", "too_fast"])
def test_sequential_siblings_silent(run, case):
    if case == "overlapping":  # already concurrent
        rows = _family("3" * 32, [0.01 * i for i in range(6)], 150)
    elif case == "few":
        rows = _family("4" * 32, [0.2 * i for i in range(4)], 150)
    elif case == "with_errors":  # failures in a row are a retry pattern, not N+1
        rows = _family("5" * 32, [0.2 * i for i in range(6)], 150, error_type="E")
    else:  # 6 x 15 ms: parallelising saves 75 ms per run, under the 0.1 s floor
        rows = _family("6" * 32, [0.02 * i for i in range(6)], 15)
    assert only(run(rows), "sequential-calls") == []


def _days(before_ms: list[float], now_ms: list[float]) -> list[dict]:
    day1, day2 = at(0).replace(hour=0), at(0).replace(hour=0) + dt.timedelta(days=1)
    rows = [span("score", start=day1 + dt.timedelta(minutes=i), duration_ms=d)
            for i, d in enumerate(before_ms)]
    rows += [span("score", start=day2 + dt.timedelta(minutes=i), duration_ms=d)
             for i, d in enumerate(now_ms)]
    return rows


def test_p95_regression_against_the_previous_period(run):
    before = [100 + 2 * i for i in range(30)]
    now = [150 + 5 * i for i in range(30)]
    day2 = at(0).replace(hour=0) + dt.timedelta(days=1)
    window = Window(day2, day2 + dt.timedelta(days=1))
    rows = _days(before, now)
    [s] = only(run(rows, window=window), "p95-regression")
    old_p95, new_p95 = np.percentile(np.array(before) / 1e3, 95), np.percentile(
        np.array(now) / 1e3, 95)
    assert s.evidence["previous_p95_s"] == pytest.approx(old_p95)
    assert s.evidence["p95_s"] == pytest.approx(new_p95)
    assert s.saving_seconds == pytest.approx((np.mean(now) - np.mean(before)) / 1e3 * 30)
    assert s.examples[0] == max(rows[30:], key=lambda r: r["duration_us"])["trace_id"]


@pytest.mark.parametrize("case", ["steady", "unbounded_window", "no_history"])
def test_p95_regression_silent(run, case):
    day2 = at(0).replace(hour=0) + dt.timedelta(days=1)
    window = Window(day2, day2 + dt.timedelta(days=1))
    rows = _days([100 + 2 * i for i in range(30)], [105 + 2 * i for i in range(30)])
    if case == "unbounded_window":
        rows = _days([100] * 30, [300] * 30)
        window = Window(day2, None)
    elif case == "no_history":
        rows = _days([], [300] * 30)
    assert only(run(rows, window=window), "p95-regression") == []
