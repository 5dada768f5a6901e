"""Compare two periods or two datasets side by side, and say which differences are beyond noise.

Tests (numpy/stdlib, see ``stats.py``), at ``alpha`` (default 0.05):
- error rate: pooled two-proportion z-test;
- durations (avg, p50): Mann-Whitney U, normal approximation with tie correction — a shift of
  the whole distribution, robust to the long tails latency has;
- p95 / p99: percentile-bootstrap 95 % CI of the difference (500 resamples); beyond noise when
  the CI excludes 0.
Counts, tokens and cost are totals, not samples: they get deltas but no test. Duration samples
are capped at ``max_samples`` per side (a deterministic hash sample) to bound memory and time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from otelytics.analysis.dataset import Dataset
from otelytics.analysis.engine import Engine
from otelytics.analysis.models import Report, Section, Table
from otelytics.analysis.report import describe_window
from otelytics.analysis.stats import (
    bootstrap_quantile_diff_ci,
    mann_whitney_u,
    two_proportion_z,
)

__all__ = ["compare"]

_TOTALS = """
SELECT count(*) AS executions, count(*) FILTER (WHERE is_error) AS errors,
  avg(duration_us) / 1000.0 AS duration_avg_ms,
  quantile_cont(duration_us, 0.5) / 1000.0 AS duration_p50_ms,
  quantile_cont(duration_us, 0.95) / 1000.0 AS duration_p95_ms,
  quantile_cont(duration_us, 0.99) / 1000.0 AS duration_p99_ms,
  count(*) FILTER (WHERE is_llm) AS llm_calls,
  CAST(coalesce(sum(input_tokens), 0) AS BIGINT) AS input_tokens,
  CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS output_tokens,
  sum(cost_usd) AS cost_usd,
  count(*) FILTER (WHERE is_llm AND cost_usd IS NULL) AS unpriced_calls
FROM {core}
"""


def _sample(e: Engine, max_samples: int, where: str = "TRUE") -> list[float]:
    return e.sql(f"""
        SELECT duration_us / 1000.0 AS d FROM {{core}} WHERE {where}
        ORDER BY hash(start_time, duration_us, name) LIMIT {max_samples}""").column(
        "d").to_pylist()


def _delta(a: Any, b: Any) -> tuple[Any, Any]:
    if a is None or b is None:
        return None, None
    return b - a, (b / a - 1) if a else None


def compare(baseline: Dataset, current: Dataset, *, alpha: float = 0.05,
            max_samples: int = 20000, top: int = 20,
            labels: tuple[str, str] = ("baseline", "current")) -> Report:
    """A report with one ``comparison`` section: overall figures and per-operation deltas."""
    eb, ec = Engine.of(baseline), Engine.of(current)
    tb, tc = eb.row(_TOTALS), ec.row(_TOTALS)
    for t in (tb, tc):
        n = t.get("executions") or 0
        t["error_rate"] = t["errors"] / n if n else None
        priced = (t.get("llm_calls") or 0) - (t.get("unpriced_calls") or 0)
        t["cost_per_call_usd"] = (t["cost_usd"] / priced if priced and t["cost_usd"] is not None
                                  else None)
    sa, sc = _sample(eb, max_samples), _sample(ec, max_samples)
    _, p_mw = mann_whitney_u(sa, sc)
    _, p_err = two_proportion_z(tb["errors"], tb["executions"], tc["errors"], tc["executions"])
    cis = {q: bootstrap_quantile_diff_ci(sa, sc, q) for q in (0.95, 0.99)}
    empty = not tb.get("executions")
    tests: dict[str, tuple[str, Any, bool | None]] = {} if empty else {
        "error_rate": ("two-proportion z", p_err, p_err < alpha),
        "duration_avg_ms": ("Mann-Whitney U", p_mw, p_mw < alpha),
        "duration_p50_ms": ("Mann-Whitney U", p_mw, p_mw < alpha),
    }
    for q, name in () if empty else ((0.95, "duration_p95_ms"), (0.99, "duration_p99_ms")):
        lo, hi = cis[q]
        ok = lo == lo and hi == hi  # not NaN
        tests[name] = (f"bootstrap CI [{lo:.3g}, {hi:.3g}] ms" if ok else "bootstrap CI",
                       None, (lo > 0 or hi < 0) if ok else None)
    rows = []
    for metric in ("executions", "errors", "error_rate", "duration_avg_ms", "duration_p50_ms",
                   "duration_p95_ms", "duration_p99_ms", "llm_calls", "input_tokens",
                   "output_tokens", "cost_usd", "cost_per_call_usd", "unpriced_calls"):
        a, b = tb.get(metric), tc.get(metric)
        d, pct = _delta(a, b)
        test, p, sig = tests.get(metric, ("empty baseline" if empty else "total (no test)",
                                          None, None))
        rows.append((metric, a, b, d, pct, test, p, sig))
    overall = Table("overall", (
        "metric", labels[0], labels[1], "delta", "delta_pct", "test", "p_value",
        "beyond_noise"), tuple(rows), f"{labels[1]} vs {labels[0]}; beyond_noise at "
                                      f"alpha={alpha}")
    by_op = _by_operation(eb, ec, alpha, top, min(max_samples, 5000), labels)
    sig = [r[0] for r in rows if r[7]]
    figures = {"alpha": alpha, "baseline_root": baseline.root,
               "baseline_window": _span(baseline), "current_root": current.root,
               "current_window": _span(current),
               "differences_beyond_noise": len(sig) + sum(
                   1 for r in by_op.rows if r[-1]),
               "metrics_beyond_noise": ", ".join(sig) or "none",
               "baseline_empty": empty}
    notes = (("the baseline period has no spans: the current period is shown alone, "
              "nothing is tested",) if empty else ())
    section = Section("comparison", "Comparison", figures, (overall, by_op), notes)
    return Report(root=current.root, window=describe_window(current),
                  filters={k: v for k, v in _filters(current).items() if v}, group_by=None,
                  generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
                  files={s: len(f) for s, f in current.files.items()},
                  skipped_files=tuple(baseline.skipped) + tuple(current.skipped),
                  sections=(section,), kind="compare")


def _span(ds: Dataset) -> str:
    w = describe_window(ds)
    return f"{w['from'] or 'start'} .. {w['to'] or 'end'}"


def _filters(ds: Dataset) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(ds.filters)


_OPS = """
SELECT name, count(*) AS calls, count(*) FILTER (WHERE is_error) AS errors,
  quantile_cont(duration_us, 0.95) / 1000.0 AS p95_ms
FROM {core} GROUP BY 1
"""


def _by_operation(eb: Engine, ec: Engine, alpha: float, top: int, per_op: int,
                  labels: tuple[str, str]) -> Table:
    a = {r["name"]: r for r in eb.sql(_OPS).to_pylist()}
    b = {r["name"]: r for r in ec.sql(_OPS).to_pylist()}
    names = sorted(set(a) | set(b), key=lambda n: (-(b.get(n, {}).get("calls", 0)
                                                      + a.get(n, {}).get("calls", 0)), n))[:top]
    rows = []
    for n in names:
        ra, rb = a.get(n), b.get(n)
        if not ra or not rb:
            rows.append((n, ra and ra["calls"], rb and rb["calls"], ra and ra["p95_ms"],
                         rb and rb["p95_ms"], None, ra and ra["errors"] / ra["calls"],
                         rb and rb["errors"] / rb["calls"], None, None,
                         "only in " + (labels[0] if ra else labels[1]), None))
            continue
        q = "'" + n.replace("'", "''") + "'"
        _, p_d = mann_whitney_u(_sample(eb, per_op, f"name = {q}"),
                                _sample(ec, per_op, f"name = {q}"))
        _, p_e = two_proportion_z(ra["errors"], ra["calls"], rb["errors"], rb["calls"])
        _, pct = _delta(ra["p95_ms"], rb["p95_ms"])
        rows.append((n, ra["calls"], rb["calls"], ra["p95_ms"], rb["p95_ms"], pct,
                     ra["errors"] / ra["calls"], rb["errors"] / rb["calls"], p_d, p_e, "",
                     p_d < alpha or p_e < alpha))
    return Table("by_operation", (
        "operation", f"{labels[0]}_calls", f"{labels[1]}_calls", f"{labels[0]}_p95_ms",
        f"{labels[1]}_p95_ms", "p95_delta_pct", f"{labels[0]}_error_rate",
        f"{labels[1]}_error_rate", "durations_p", "error_rate_p", "note", "beyond_noise"),
        tuple(rows), "per operation: Mann-Whitney on durations, two-proportion z on errors")
