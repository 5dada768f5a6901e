"""Workflows and sessions: step sequences, drop-off per step, session length and completion.

A workflow run is a span with ``otelytics.span.type = workflow``; its steps are its direct
children that carry the workflow name, ordered by start time (ties by step name). A run
*fails* when its span has status ERROR; it *stops* at the last step it reached. A session is
every span sharing a ``session.id``; it *completes* unless its session span (or, without one,
a root span of the session) ended in ERROR.
"""

from __future__ import annotations

from otelytics.analysis.dataset import Dataset
from otelytics.analysis.engine import Engine
from otelytics.analysis.models import Section

__all__ = ["sessions", "workflows"]

_SEQ = """
WITH w AS MATERIALIZED (  -- one scan for runs and steps: both carry the workflow name
  SELECT trace_id, span_id, parent_span_id, workflow_name, span_type, duration_us,
    coalesce(workflow_step, estimator_name, name) AS step, start_time,
    status_code = 'ERROR' AS failed
  FROM spans WHERE workflow_name IS NOT NULL),
runs AS (
  SELECT trace_id, span_id, workflow_name AS workflow, duration_us, failed
  FROM w WHERE span_type = 'workflow'),
steps AS (
  SELECT trace_id, parent_span_id, step, start_time, failed
  FROM w WHERE parent_span_id IS NOT NULL AND span_type IS DISTINCT FROM 'workflow'),
seq AS (
  SELECT r.trace_id, r.span_id, r.workflow, r.duration_us, r.failed,
    coalesce(list(s.step ORDER BY s.start_time, s.step) FILTER (WHERE s.step IS NOT NULL),
             []) AS steps,
    coalesce(list(s.failed ORDER BY s.start_time, s.step) FILTER (WHERE s.step IS NOT NULL),
             []) AS step_failed
  FROM runs r LEFT JOIN steps s ON s.trace_id = r.trace_id AND s.parent_span_id = r.span_id
  GROUP BY ALL)
"""


def workflows(ds: Dataset, *, group_by: str | None = None, top: int = 10) -> Section:
    """Runs per workflow, the most common step sequences, and drop-off per step."""
    e = Engine.of(ds, group_by)
    e.sql(f"CREATE OR REPLACE TEMP TABLE _wf_seq AS {_SEQ} SELECT * FROM seq")
    per = e.table("workflows", """
        SELECT workflow, count(*) AS runs, count(*) FILTER (WHERE failed) AS failed,
          1 - count(*) FILTER (WHERE failed) / count(*) AS completion_rate,
          avg(len(steps)) AS avg_steps, avg(duration_us) / 1000.0 AS avg_ms,
          quantile_cont(duration_us, 0.5) / 1000.0 AS p50_ms,
          quantile_cont(duration_us, 0.95) / 1000.0 AS p95_ms
        FROM _wf_seq GROUP BY 1 ORDER BY runs DESC, 1""", description="workflow runs")
    sequences = e.table("sequences", f"""
        SELECT workflow, array_to_string(steps, ' > ') AS sequence, count(*) AS runs,
          count(*) / sum(count(*)) OVER (PARTITION BY workflow) AS share,
          count(*) FILTER (WHERE failed) AS failed,
          avg(duration_us) / 1000.0 AS avg_ms,
          quantile_cont(duration_us, 0.5) / 1000.0 AS p50_ms,
          arg_min(trace_id, trace_id) AS example_trace_id
        FROM _wf_seq GROUP BY 1, 2
        QUALIFY row_number() OVER (PARTITION BY workflow ORDER BY runs DESC, sequence) <= {top}
        ORDER BY workflow, runs DESC, sequence""",
                        description="most common step sequences (children ordered by start)")
    dropoff = e.table("drop_off", """
        WITH x AS (SELECT workflow, steps, step_failed, failed, unnest(range(1, len(steps) + 1))
                   AS position FROM _wf_seq)
        SELECT workflow, position, mode(steps[position]) AS step, count(*) AS reached,
          count(*) FILTER (WHERE step_failed[position]) AS failed_here,
          count(*) FILTER (WHERE len(steps) = position AND failed) AS stopped_here,
          count(*) FILTER (WHERE len(steps) = position AND failed) / count(*) AS drop_off_rate
        FROM x GROUP BY 1, 2 ORDER BY 1, 2""",
                      description="per step position: runs that reached it, whose step "
                                  "failed there, and failed runs that stopped there")
    runs = sum(per.column("runs"))
    failed = sum(per.column("failed"))
    figures = {"workflows": len(per), "runs": runs, "failed_runs": failed,
               "completion_rate": (runs - failed) / runs if runs else None}
    return Section("workflows", "Workflows", figures, (per, sequences, dropoff))


def sessions(ds: Dataset, *, group_by: str | None = None, top: int = 10) -> Section:
    """Session counts, length (spans, LLM calls, duration), cost and completion rate."""
    e = Engine.of(ds, group_by)
    f = e.row("""
        SELECT count(*) AS sessions, count(*) FILTER (WHERE completed) AS completed,
          count(*) FILTER (WHERE completed) / nullif(count(*), 0) AS completion_rate,
          count(DISTINCT user_id) AS users, avg(spans) AS avg_spans,
          quantile_cont(spans, 0.5) AS p50_spans, quantile_cont(spans, 0.95) AS p95_spans,
          avg(duration_s) AS avg_duration_s, quantile_cont(duration_s, 0.5) AS p50_duration_s,
          quantile_cont(duration_s, 0.95) AS p95_duration_s, avg(cost_usd) AS cost_per_session
        FROM {sessions}""")
    longest = e.table("top_sessions", f"""
        SELECT session_id, user_id, spans, llm_calls, duration_s, cost_usd, completed
        FROM {{sessions}} ORDER BY cost_usd DESC, spans DESC, session_id LIMIT {top}""",
                      description=f"the {top} most expensive sessions (then longest)")
    lengths = e.table("length_distribution", """
        SELECT CASE WHEN spans <= 1 THEN '1' WHEN spans <= 3 THEN '2-3'
                    WHEN spans <= 10 THEN '4-10' WHEN spans <= 30 THEN '11-30'
                    ELSE '>30' END AS spans, min(spans) AS lowest, count(*) AS sessions
        FROM {sessions} GROUP BY 1 ORDER BY lowest""",
                      description="sessions by number of spans")
    return Section("sessions", "Sessions", f, (longest, lengths))
