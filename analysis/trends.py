"""Trends (daily and weekly series, growth rates) and anomalies on the daily series.

Anomaly rule: for each daily series (executions, error rate, p95 duration, cost) take the
first differences, score each one robustly as 0.6745 (d - median) / MAD, and flag a day when
|score| > ``threshold`` (3.5, Iglewicz and Hoaglin's cut-off) *and* the day has at least
``min_volume`` executions (so a near-empty day cannot raise an alarm). Differences rather
than levels, so a steady growth trend is not flagged; median/MAD rather than mean/sd, so the
anomaly itself does not widen the yardstick. Days without spans count as zero.
"""

from __future__ import annotations

from otelytics.analysis.dataset import Dataset
from otelytics.analysis.engine import Engine
from otelytics.analysis.models import Section, Table
from otelytics.analysis.stats import robust_scores

__all__ = ["ANOMALY_METRICS", "anomalies", "trends"]

ANOMALY_METRICS = ("executions", "error_rate", "p95_ms", "cost_usd")

_DAILY = """
WITH r AS (SELECT CAST(unnest(generate_series(min(day), max(day), INTERVAL 1 DAY)) AS DATE)
           AS day FROM {daily})
SELECT r.day, coalesce(executions, 0) AS executions, coalesce(errors, 0) AS errors,
  coalesce(errors / nullif(executions, 0), 0) AS error_rate, p95_us / 1000.0 AS p95_ms,
  coalesce(llm_calls, 0) AS llm_calls, coalesce(tokens, 0) AS tokens,
  CASE WHEN llm_calls > 0 AND llm_unpriced = llm_calls THEN NULL  -- unknown, not $0
       ELSE coalesce(cost_usd, 0) END AS cost_usd
FROM r LEFT JOIN {daily} d USING (day) ORDER BY r.day
"""


def _growth(new: float | None, old: float | None) -> float | None:
    if new is None or not old:
        return None
    return new / old - 1


def trends(ds: Dataset, *, group_by: str | None = None) -> Section:
    """Daily and weekly series of executions, errors, p95, tokens and cost, with growth."""
    e = Engine.of(ds, group_by)
    daily = e.table("daily", _DAILY, description="per UTC day; days without spans are zero")
    weekly_raw = e.sql("""
        SELECT day - CAST((day - DATE '1970-01-01' + 3) % 7 AS INTEGER) AS week,
          count(*) AS days, CAST(sum(executions) AS BIGINT) AS executions,
          CAST(sum(errors) AS BIGINT) AS errors, sum(errors) / sum(executions) AS error_rate,
          max(p95_us) / 1000.0 AS p95_ms, sum(cost_usd) AS cost_usd
        FROM {daily} GROUP BY 1 ORDER BY 1""").to_pylist()
    rows = []
    prev: dict | None = None
    for w in weekly_raw:
        rows.append((w["week"], w["days"], w["executions"], w["errors"], w["error_rate"],
                     w["p95_ms"], w["cost_usd"],
                     _growth(w["executions"], prev["executions"] if prev else None),
                     _growth(w["cost_usd"], prev["cost_usd"] if prev else None)))
        prev = w
    weekly = Table("weekly", ("week", "days", "executions", "errors", "error_rate",
                              "max_daily_p95_ms",
                              "cost_usd", "executions_growth", "cost_growth"),
                   tuple(tuple(_iso(v) for v in r) for r in rows),
                   "per ISO week (Monday start, days with spans); growth vs the previous "
                   "week; p95 is the worst day's (a weekly p95 would cost another scan)")
    figures = {
        "days": len(daily),
        "weeks": len(weekly),
        "executions_growth_last_week": rows[-1][7] if rows else None,
        "cost_growth_last_week": rows[-1][8] if rows else None,
    }
    return Section("trends", "Trends", figures, (daily, weekly))


def _iso(v: object) -> object:
    return v.isoformat() if hasattr(v, "isoformat") else v


def anomalies(ds: Dataset, *, group_by: str | None = None, min_volume: int = 20,
              threshold: float = 3.5) -> Section:
    """Days whose change in a daily series is an outlier (median/MAD on first differences)."""
    e = Engine.of(ds, group_by)
    daily = e.sql(_DAILY).to_pylist()
    found = []
    for metric in ANOMALY_METRICS:
        values = [d[metric] if d[metric] is not None else 0.0 for d in daily]
        for i, score in enumerate(robust_scores(values)):
            if score is None or abs(score) <= threshold or daily[i]["executions"] < min_volume:
                continue
            found.append((_iso(daily[i]["day"]), metric, values[i], values[i - 1],
                          values[i] - values[i - 1], score, "up" if score > 0 else "down"))
    found.sort(key=lambda r: (r[0], r[1]))
    table = Table("anomalies", ("day", "metric", "value", "previous", "change", "score",
                                "direction"), tuple(found),
                  f"|robust z| of the day-over-day change > {threshold}, "
                  f"days with >= {min_volume} executions")
    figures = {"anomalies": len(found), "days_checked": len(daily), "min_volume": min_volume,
               "threshold": threshold}
    return Section("anomalies", "Anomalies", figures, (table,))
