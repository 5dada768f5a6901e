"""Small, dependency-light statistics used by the reports (numpy + stdlib only).

Wilson score bounds for rates from few events, robust anomaly scores (median/MAD on first
differences), and the two tests ``compare`` uses to say whether a difference is beyond noise:
the two-proportion z-test for error rates and the Mann-Whitney U test (normal approximation
with tie correction) for durations, plus a percentile bootstrap CI for a p95 difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "bootstrap_quantile_diff_ci",
    "mann_whitney_u",
    "robust_scores",
    "two_proportion_z",
    "wilson_interval",
]

_Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _norm_sf2(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test: (z, two-sided p). p = 1 when undefined."""
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / se
    return z, _norm_sf2(z)


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mann-Whitney U of ``b`` vs ``a`` (normal approximation, tie-corrected): (U_b, p)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    both = np.concatenate([x, y])
    order = np.argsort(both, kind="mergesort")
    sorted_vals = both[order]
    ranks = np.empty(len(both))
    # average ranks over ties
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    r2 = ranks[n1:].sum()
    u2 = r2 - n2 * (n2 + 1) / 2
    n = n1 + n2
    tie = (counts ** 3 - counts).sum()
    var = n1 * n2 / 12 * ((n + 1) - tie / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return float(u2), 1.0
    z = (u2 - n1 * n2 / 2) / math.sqrt(var)
    return float(u2), _norm_sf2(z)


def bootstrap_quantile_diff_ci(a: Sequence[float], b: Sequence[float], q: float = 0.95,
                               rounds: int = 500, seed: int = 7,
                               level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap CI of quantile(b) - quantile(a) (linear interpolation)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    for i in range(rounds):
        diffs[i] = (np.quantile(rng.choice(y, len(y)), q)
                    - np.quantile(rng.choice(x, len(x)), q))
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def robust_scores(values: Sequence[float]) -> list[float | None]:
    """Robust z-scores of the first differences of ``values`` (index i scores the step
    values[i-1] -> values[i]; index 0 is None): 0.6745 (d - median) / MAD. When MAD is 0
    the mean absolute deviation x 1.2533 stands in; when that is 0 too, scores are 0.

    Deviations within floating-point noise of the series' magnitude (1e-9 of its largest
    value) count as 0: daily cost sums added in a varying order differ in the last bits, and
    a MAD made of that noise turned an ordinary day into a score of 3e16."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return [None] * len(v)
    d = np.diff(v)
    med = float(np.median(d))
    noise = 1e-9 * float(np.max(np.abs(v)))
    d = np.where(np.abs(d - med) <= noise, med, d)
    dev = np.abs(d - med)
    mad = float(np.median(dev))
    if mad > 0:
        scores = 0.6745 * (d - med) / mad
    else:
        meanad = float(np.mean(dev))
        scores = (d - med) / (1.2533 * meanad) if meanad > 0 else np.zeros_like(d)
    return [None, *(float(s) for s in scores)]
