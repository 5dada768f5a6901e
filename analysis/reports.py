"""Summary, Usage, Performance and Reliability reports: pure functions of an opened dataset.

Each function takes a :class:`~otelytics.analysis.dataset.Dataset` (which carries the window and
filters) and returns a :class:`~otelytics.analysis.models.Section`. Percentiles are exact:
DuckDB ``quantile_cont`` (linear interpolation between the two nearest ranks, the same
definition as numpy's default and ``statistics.quantiles(method="inclusive")``), chosen over
``quantile_disc`` so that a p95 of few samples moves smoothly instead of jumping between
observed values, and so that tests can check it with the standard library.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from otelytics.analysis.dataset import Dataset
from otelytics.analysis.engine import Engine
from otelytics.analysis.models import Section, Table, plain, pylist
from otelytics.analysis.stats import wilson_interval
from otelytics.semconv import attributes as A

__all__ = [
    "performance",
    "reliability",
    "stack_fingerprint",
    "summary",
    "usage",
]

_MS = "quantile_cont(duration_us, {q}) / 1000.0"
_PARAM_PREFIX = A.OTELYTICS_ESTIMATOR_PARAM + "."


def _pct(q: float) -> str:
    return _MS.format(q=q)


def summary(ds: Dataset, *, group_by: str | None = None) -> Section:
    """Executions, success/error rates, durations, tokens, cost, sessions."""
    e = Engine.of(ds, group_by)
    # counts, sums and extremes rolled up from the per-day aggregate (shared with trends and
    # cost); only the exact percentiles and the distinct counts scan the spans: the summary
    # aggregate over every span cost ~3x its quantile alone (docs/analysis.md)
    f = e.row("""
        SELECT a.*, d.*, q._q, r.first_span, r.last_span FROM (
        SELECT CAST(coalesce(sum(executions), 0) AS BIGINT) AS executions,
          CAST(coalesce(sum(errors), 0) AS BIGINT) AS errors,
          sum(sum_us) / sum(executions) / 1000.0 AS duration_avg_ms,
          max(max_us) / 1000.0 AS duration_max_ms,
          CAST(coalesce(sum(llm_calls), 0) AS BIGINT) AS llm_calls,
          coalesce(sum(input_tokens), 0) AS input_tokens,
          coalesce(sum(output_tokens), 0) AS output_tokens,
          coalesce(sum(cache_read_tokens), 0) AS cached_input_tokens,
          coalesce(sum(cache_creation_tokens), 0) AS cache_creation_tokens,
          sum(cost_usd) AS cost_usd,
          CAST(coalesce(sum(llm_calls - llm_unpriced), 0) AS BIGINT) AS priced_calls,
          CAST(coalesce(sum(llm_unpriced), 0) AS BIGINT) AS unpriced_calls
        FROM {daily}) a, (  -- distinct counts apart: beside the other aggregates they made
          -- the whole query ~2x slower than the two scans (docs/analysis.md)
        SELECT count(DISTINCT session_id) AS sessions, count(DISTINCT user_id) AS users,
          count(DISTINCT service_name) AS services FROM {core}) d,
        (SELECT quantile_cont(duration_us, [0.5, 0.95, 0.99]) AS _q FROM {core}) q,
        (SELECT min(first_span) AS first_span, max(last_span) AS last_span FROM {daily}) r""")
    q = f.pop("_q", None) or [None] * 3
    n = f.get("executions") or 0
    errors = f.get("errors") or 0
    figures: dict[str, Any] = {
        "executions": n,
        "errors": errors,
        "success_rate": (n - errors) / n if n else None,
        "error_rate": errors / n if n else None,
        "duration_avg_ms": f.pop("duration_avg_ms"),
        **{f"duration_p{p}_ms": (v / 1000.0 if v is not None else None)
           for p, v in zip((50, 95, 99), q, strict=True)},
        **{k: v for k, v in f.items() if k not in ("executions", "errors")},
    }
    tables = [_by(e, "grp" if group_by else "service_name", group_by or "service",
                  "by_group" if group_by else "by_service")]
    return Section("summary", "Summary", figures, tuple(tables))


def _by(e: Engine, expr: str, label: str, name: str) -> Table:
    return e.table(name, f"""
        WITH g AS (SELECT {expr} AS "{label}", count(*) AS executions,
          count(*) FILTER (WHERE is_error) AS errors,
          count(*) FILTER (WHERE is_error) / count(*) AS error_rate,
          avg(duration_us) / 1000.0 AS avg_ms, list_transform(quantile_cont(duration_us,
            [0.5, 0.95]), lambda v: v / 1000.0) AS _q,
          coalesce(sum(input_tokens), 0) AS input_tokens,
          coalesce(sum(output_tokens), 0) AS output_tokens,
          sum(cost_usd) AS cost_usd
        FROM {{core}} GROUP BY 1)
        SELECT * EXCLUDE (_q, input_tokens, output_tokens, cost_usd), _q[1] AS p50_ms,
          _q[2] AS p95_ms, input_tokens, output_tokens, cost_usd
        FROM g ORDER BY executions DESC, 1 LIMIT 200""",
        description=f"executions, errors, durations, tokens and cost by {label}")


def usage(ds: Dataset, *, group_by: str | None = None, top: int = 10) -> Section:
    """What runs: by operation, estimator, model and provider; parameter values; data sizes."""
    e = Engine.of(ds, group_by)
    total = e.scalar("SELECT sum(calls) FROM {ops}") or 0
    tables = [
        e.table("by_operation", """
            SELECT name AS operation, calls AS executions, calls / sum(calls) OVER () AS share,
              errors, sum_us / 1e6 AS total_s, avg_us / 1000.0 AS avg_ms
            FROM {ops} ORDER BY executions DESC, 1 LIMIT 200""",
                description="executions per span name"),
        e.table("by_model", """
            SELECT model, provider, calls, input_tokens, output_tokens,
              cache_read_tokens AS cached_input_tokens, cost_usd
            FROM {llm} ORDER BY calls DESC, 1, 2 LIMIT 200""",
                description="LLM calls per model"),
        e.table("by_provider", """
            SELECT provider, CAST(sum(calls) AS BIGINT) AS calls, count(model) AS models,
              CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
              CAST(sum(output_tokens) AS BIGINT) AS output_tokens, sum(cost_usd) AS cost_usd
            FROM {llm} GROUP BY 1 ORDER BY calls DESC, 1""",
                description="LLM calls per provider"),
        e.table("parameter_values", f"""
            WITH p AS (  -- keys and values unnested side by side: ~20 % faster than
              -- filtering map_entries structs with a lambda (docs/analysis.md)
              SELECT coalesce(estimator_name, name) AS estimator,
                unnest(map_keys(attributes)) AS k, unnest(map_values(attributes)) AS v
              FROM spans WHERE cardinality(attributes) > 0),
            c AS (SELECT estimator, substr(k, {len(_PARAM_PREFIX) + 1}) AS parameter,
                    v AS value, count(*) AS calls FROM p
                  WHERE starts_with(k, '{_PARAM_PREFIX}') GROUP BY 1, 2, 3)
            SELECT estimator, parameter, value, calls,
              calls / sum(calls) OVER (PARTITION BY estimator, parameter) AS share
            FROM c QUALIFY row_number() OVER (PARTITION BY estimator, parameter
                                              ORDER BY calls DESC, value) <= {top}
            ORDER BY estimator, parameter, calls DESC, value""",
                description=f"most common values of each captured parameter (top {top})"),
    ]
    est = e.sql("""
        SELECT estimator, count(*) AS calls, count(*) FILTER (WHERE is_error) AS errors,
          avg(duration_us) / 1000.0 AS avg_ms, count(estimator_data_length) AS dl_n,
          min(estimator_data_length) AS dl_min,
          quantile_cont(estimator_data_length, [0.5, 0.95]) AS dl_q,
          max(estimator_data_length) AS dl_max, avg(estimator_data_length) AS dl_mean,
          histogram(CASE WHEN estimator_data_length <= 0 THEN 0
                         ELSE CAST(floor(log10(estimator_data_length)) AS INTEGER) + 1 END)
            FILTER (WHERE estimator_data_length IS NOT NULL) AS dl_hist
        FROM {core} WHERE estimator IS NOT NULL GROUP BY 1
        ORDER BY calls DESC, 1""").to_pylist()
    buckets: dict[int, int] = {}
    for r in est:
        for k, v in r["dl_hist"] or []:
            buckets[k] = buckets.get(k, 0) + v
    tables.insert(1, Table("by_estimator", ("estimator", "calls", "errors", "avg_ms",
                                            "avg_data_length"),
                           tuple((r["estimator"], r["calls"], r["errors"], r["avg_ms"],
                                  r["dl_mean"]) for r in est[:200]),
                           "tracked functions (estimators)"))
    tables.append(Table("data_length", ("estimator", "calls", "min", "p50", "p95", "max",
                                        "mean"),
                        tuple((r["estimator"], r["dl_n"], r["dl_min"], r["dl_q"][0],
                               r["dl_q"][1], r["dl_max"], r["dl_mean"])
                              for r in est if r["dl_n"])[:200], "input sizes per estimator"))
    tables.append(Table("data_length_buckets", ("bucket", "lowest", "calls"),
                        tuple(("0" if k == 0 else f"1e{k - 1}", 0 if k == 0 else 10 ** (k - 1),
                               v) for k, v in sorted(buckets.items())),
                        "input sizes by power of ten (1e2 = 100..999)"))
    return Section("usage", "Usage", {"executions": total}, tuple(tables))


def performance(ds: Dataset, *, group_by: str | None = None, top: int = 10,
                min_calls: int = 20) -> Section:
    """Percentiles by operation (sorted by p95), CPU/memory, time to first chunk, outliers."""
    e = Engine.of(ds, group_by)
    by_op = e.table("by_operation", """
        SELECT name AS operation, calls, avg_us / 1000.0 AS avg_ms, q_us[1] / 1000.0 AS p50_ms,
          q_us[2] / 1000.0 AS p90_ms, q_us[3] / 1000.0 AS p95_ms, q_us[4] / 1000.0 AS p99_ms,
          max_us / 1000.0 AS max_ms, sum_us / 1e6 AS total_s
        FROM {ops} ORDER BY p95_ms DESC, 1 LIMIT 200""",
                    description="exact duration percentiles per span name, slowest p95 first")
    resources = e.table("resources", """
        SELECT name AS operation, cpu_n AS cpu_recorded, cpu_avg * 1000.0 AS avg_cpu_ms,
          cpu_sum / nullif(cpu_wall_us / 1e6, 0) AS cpu_share, mem_n AS memory_recorded,
          mem_avg / 1048576.0 AS avg_peak_mib, mem_max / 1048576.0 AS max_peak_mib,
          rss_avg / 1048576.0 AS avg_rss_delta_mib
        FROM {ops} WHERE cpu_n > 0 OR mem_n > 0 OR rss_n > 0
        ORDER BY avg_cpu_ms DESC NULLS LAST, 1 LIMIT 200""",
                        description="CPU time (share of wall time) and memory where recorded")
    ttfc = e.table("time_to_first_chunk", """
        SELECT model, provider, count(*) AS calls, avg(ttfc_s) * 1000.0 AS avg_ms,
          quantile_cont(ttfc_s, 0.5) * 1000.0 AS p50_ms,
          quantile_cont(ttfc_s, 0.95) * 1000.0 AS p95_ms
        FROM {core} WHERE ttfc_s IS NOT NULL GROUP BY 1, 2 ORDER BY p95_ms DESC, 1""",
                   description="streaming LLM calls: time to the first chunk")
    # the top-N bar from the duration column alone, then ids only for spans at or above it
    bar = e.scalar(f"""SELECT min(d) FROM (SELECT duration_us AS d FROM spans
                       WHERE duration_us IS NOT NULL ORDER BY d DESC LIMIT {top})""")
    slowest = e.table("slowest_spans", f"""
        SELECT name AS operation, trace_id, span_id, start_time,
          duration_us / 1000.0 AS duration_ms
        FROM spans {f"WHERE duration_us >= {int(bar)}" if bar is not None else ""}
        ORDER BY duration_us DESC, trace_id, span_id LIMIT {top}""",
                      description=f"the {top} slowest spans")
    # the lowest bar over all operations, inlined as a constant so that DuckDB filters the
    # duration column inside the Parquet scan before decoding ids and names
    floor = e.scalar(f"""SELECT CAST(floor(min(greatest(q_us[4], 3 * q_us[1]))) AS BIGINT)
                         FROM {{ops}} WHERE calls >= {min_calls}""")
    # two steps, because an outlier is a property of (name, duration) alone: find the
    # (name, duration) keys of the outliers reading only those two columns, then fetch ids
    # and start times for the keys that can reach the top (ties included); decoding ids and
    # times of every outlier (1 % of spans) made this section ~2x slower (docs/analysis.md)
    st = f"""st AS (SELECT name, q_us[1] AS p50, q_us[4] AS p99 FROM {{ops}}
                    WHERE calls >= {min_calls})"""
    keys = e.sql(f"""
        WITH {st},
        k AS (
          SELECT s.name, s.duration_us, count(*) AS n,
            s.duration_us / nullif(st.p50, 0) AS times_p50
          FROM spans s JOIN st ON s.name = st.name
          WHERE s.duration_us >= greatest(st.p99, 3 * st.p50) AND s.duration_us > st.p50
            AND s.duration_us >= {int(floor) if floor is not None else 0}
          GROUP BY s.name, s.duration_us, st.p50),
        r AS (
          SELECT name, duration_us, sum(n) OVER () AS total,
            sum(n) OVER (ORDER BY times_p50 DESC NULLS LAST, duration_us DESC
                         RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
              - sum(n) OVER (PARTITION BY times_p50, duration_us) AS before
          FROM k)
        SELECT name, duration_us, total FROM r WHERE before < {top}""").to_pylist()
    count = int(keys[0]["total"]) if keys else 0
    durations = sorted({int(k["duration_us"]) for k in keys}) or [-1]
    names = sorted({k["name"] for k in keys}) or [""]
    found = e.sql(f"""
        WITH {st}
        SELECT s.name AS operation, s.trace_id, s.span_id, s.start_time,
          s.duration_us / 1000.0 AS duration_ms, st.p50 / 1000.0 AS operation_p50_ms,
          s.duration_us / nullif(st.p50, 0) AS times_p50
        FROM spans s JOIN st ON s.name = st.name
        WHERE s.duration_us IN ({", ".join(map(str, durations))})
          AND s.duration_us >= greatest(st.p99, 3 * st.p50) AND s.duration_us > st.p50
          AND list_contains(?, s.name)
        ORDER BY times_p50 DESC NULLS LAST, duration_ms DESC, trace_id LIMIT {top}""",
                  [names])
    outliers = Table.from_arrow("outlier_traces", found, (
        f"spans at or above their operation's p99 and 3x its p50 (operations with "
        f">= {min_calls} calls)"))
    figures = {"operations": len(by_op), "outlier_spans": count}
    return Section("performance", "Performance", figures,
                   (by_op, resources, ttfc, slowest, outliers))


_FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)')


def stack_fingerprint(error_type: str | None, stacktrace: str | None) -> str:
    """A 12-hex fingerprint of an exception that survives re-deploys: the exception type and
    the (file name, function) of each frame; line numbers, paths, addresses and the message
    are dropped."""
    parts = [error_type or ""]
    if stacktrace:
        for path, func in _FRAME.findall(stacktrace):
            parts.append(f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{func}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def reliability(ds: Dataset, *, group_by: str | None = None, top: int = 10) -> Section:
    """Error rates by operation and error type, top errors with fingerprints, a score.

    The reliability score is 100 x the Wilson 95 % lower bound of the success rate: 100 means
    no errors seen over enough calls to be sure; few calls pull the score down even without
    errors (3 clean calls score 43.9), so a score never overstates what the data shows."""
    e = Engine.of(ds, group_by)
    tot = e.row("SELECT sum(calls) AS n, sum(errors) AS errors FROM {ops}")
    n, errors = tot.get("n") or 0, tot.get("errors") or 0
    score = 100 * wilson_interval(n - errors, n)[0] if n else None
    raw = e.sql("""
        SELECT name AS operation, calls, errors FROM {ops}
        ORDER BY errors DESC, calls DESC, 1 LIMIT 500""").to_pylist()
    rows = []
    for r in raw:
        lo, _ = wilson_interval(r["calls"] - r["errors"], r["calls"])
        rows.append((r["operation"], r["calls"], r["errors"], r["errors"] / r["calls"],
                     1 - lo, 100 * lo))
    by_op = Table("by_operation", ("operation", "calls", "errors", "error_rate",
                                   "error_rate_upper95", "score"), tuple(rows),
                  "error rate with its Wilson 95 % upper bound; score = 100 x lower bound of "
                  "the success rate")
    by_type = e.table("by_error_type", """
        SELECT coalesce(error_type, '(none)') AS error_type, count(*) AS errors,
          count(*) / sum(count(*)) OVER () AS share, count(DISTINCT name) AS operations
        FROM {core} WHERE is_error GROUP BY 1 ORDER BY errors DESC, 1""",
                      description="errors by error.type")
    groups = pylist(e.sql("""
        WITH x AS (
          SELECT name, error_type, trace_id, start_time, status_message,
            list_filter(events, lambda ev: ev.name = 'exception') AS ex
          FROM spans WHERE status_code = 'ERROR')
        SELECT name, coalesce(error_type, ex[1].attributes['exception.type'], '(none)') AS et,
          ex[1].attributes['exception.stacktrace'] AS stack,
          count(*) AS n, arg_min(trace_id, start_time) AS trace_id,
          arg_min(coalesce(ex[1].attributes['exception.message'], status_message),
                  start_time) AS message,
          min(start_time) AS first_seen, max(start_time) AS last_seen
        FROM x GROUP BY 1, 2, 3"""))
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for g in groups:
        fp = stack_fingerprint(g["et"], g["stack"])
        key = (g["name"], g["et"], fp)
        m = merged.get(key)
        if m is None or g["first_seen"] < m["first_seen"]:
            base = dict(g, n=g["n"] + (m["n"] if m else 0))
            if m:
                base["last_seen"] = max(m["last_seen"], g["last_seen"])
            merged[key] = base
        else:
            m["n"] += g["n"]
            m["last_seen"] = max(m["last_seen"], g["last_seen"])
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1]["n"], kv[0]))[:top]
    top_rows = tuple(
        (k[0], k[1], k[2], v["n"], v["trace_id"], (v["message"] or "")[:200],
         v["first_seen"], v["last_seen"]) for k, v in ordered)
    top_errors = Table("top_errors", (
        "operation", "error_type", "fingerprint", "count", "example_trace_id", "message",
        "first_seen", "last_seen"), tuple(tuple(plain(v) for v in r) for r in top_rows),
        "most frequent errors by operation, type and stack fingerprint")
    figures = {"executions": n, "errors": errors, "error_rate": errors / n if n else None,
               "reliability_score": score, "distinct_errors": len(merged)}
    return Section("reliability", "Reliability", figures, (by_op, by_type, top_errors),
                   ("score = 100 x Wilson 95 % lower bound of the success rate",))

