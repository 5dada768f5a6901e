"""The query engine under every report: a ``core`` view over the spans, shared aggregates.

A full report asks a dozen questions of the same spans. ``core`` is a view of the columns
reports group and aggregate by (no ids, no maps, no events), with the ``--group-by``
expression evaluated into ``grp``; DuckDB reads only the columns each query names. The
aggregates several sections share (per span name, per day, per LLM model and span name, per
session) are computed once, on first use, into tables. Questions that need ids, attributes
or events (slowest spans, error examples, workflow children, parameter values) go to the
``spans`` view with a selective predicate. Sections may run in threads, each on its own
cursor (``report.build_report``): the view and the shared tables are regular objects of the
dataset's in-memory database, created once under a lock. See docs/analysis.md for the
measurements."""

from __future__ import annotations

import decimal
import threading
from typing import Any

import pyarrow as pa

from otelytics.analysis.dataset import Dataset
from otelytics.analysis.models import Table, pylist
from otelytics.exporter.schema import PROMOTED_SPAN_ATTRIBUTES, SPAN_SCHEMA

__all__ = ["Engine", "group_expression"]

_LLM = ("(gen_ai_request_model IS NOT NULL OR gen_ai_response_model IS NOT NULL "
        "OR gen_ai_operation_name IS NOT NULL OR gen_ai_provider_name IS NOT NULL)")

_CORE_SQL = f"""
CREATE OR REPLACE VIEW core AS SELECT
  start_time, DATE '1970-01-01' + CAST(epoch_us(start_time) // 86400000000 AS INTEGER)
    AS day, name, kind, duration_us,
  status_code = 'ERROR' AS is_error, error_type, service_name, session_id, user_id, span_type,
  coalesce(estimator_name, CASE WHEN span_type = 'function' THEN name END) AS estimator,
  estimator_data_length, workflow_name, workflow_step, cpu_time_s, memory_peak_bytes,
  memory_rss_delta_bytes, gen_ai_operation_name AS llm_operation,
  gen_ai_provider_name AS provider,
  coalesce(gen_ai_request_model, gen_ai_response_model) AS model,
  gen_ai_input_tokens AS input_tokens, gen_ai_output_tokens AS output_tokens,
  gen_ai_cache_read_tokens AS cache_read_tokens,
  gen_ai_cache_creation_tokens AS cache_creation_tokens,
  gen_ai_reasoning_tokens AS reasoning_tokens,
  gen_ai_time_to_first_chunk_s AS ttfc_s, cost_usd, cost_source, usage_estimated,
  parent_span_id IS NULL AS is_root, {_LLM} AS is_llm, {{group}} AS grp
FROM spans
"""


def group_expression(key: str | None) -> str:
    """SQL for a ``--group-by`` key: a schema column, a promoted attribute name, a
    ``resource.<key>`` resource attribute, or any other span attribute key."""
    if not key:
        return "CAST(NULL AS VARCHAR)"
    promoted = {p.attribute: p.column for p in PROMOTED_SPAN_ATTRIBUTES}
    names = set(SPAN_SCHEMA.names) - {"attributes", "resource_attributes", "events", "links"}
    quoted = "'" + key.replace("'", "''") + "'"
    if key in names:
        return f'CAST("{key}" AS VARCHAR)'
    if key in promoted:
        return f'CAST("{promoted[key]}" AS VARCHAR)'
    if key == "service.name":
        return "service_name"
    if key.startswith("resource."):
        rk = "'" + key.removeprefix("resource.").replace("'", "''") + "'"
        return f"resource_attributes[{rk}]"
    return f"attributes[{quoted}]"


_OPS_SQL = """
SELECT name, count(*) AS calls, count(*) FILTER (WHERE is_error) AS errors,
  sum(duration_us) AS sum_us, avg(duration_us) AS avg_us,
  quantile_cont(duration_us, [0.5, 0.9, 0.95, 0.99]) AS q_us, max(duration_us) AS max_us,
  count(cpu_time_s) AS cpu_n, sum(cpu_time_s) AS cpu_sum, avg(cpu_time_s) AS cpu_avg,
  sum(duration_us) FILTER (WHERE cpu_time_s IS NOT NULL) AS cpu_wall_us,
  count(memory_peak_bytes) AS mem_n, avg(memory_peak_bytes) AS mem_avg,
  max(memory_peak_bytes) AS mem_max, count(memory_rss_delta_bytes) AS rss_n,
  avg(memory_rss_delta_bytes) AS rss_avg
FROM {core} GROUP BY 1
"""
"""Per span name: everything the per-operation tables of several reports need, in one scan.
LLM totals per span name are in ``{llmop}``: the four-column LLM test over every span made
this aggregate ~1.5x slower, while the LLM-only scan groups by name almost for free."""

_DAILY_SQL = """
SELECT day, count(*) AS executions, count(*) FILTER (WHERE is_error) AS errors,
  quantile_cont(duration_us, 0.95) AS p95_us, count(*) FILTER (WHERE is_llm) AS llm_calls,
  count(*) FILTER (WHERE is_llm AND cost_usd IS NULL) AS llm_unpriced,
  CAST(coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0) AS BIGINT) AS tokens,
  sum(cost_usd) AS cost_usd, sum(duration_us) AS sum_us, max(duration_us) AS max_us,
  sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
  sum(cache_read_tokens) AS cache_read_tokens,
  sum(cache_creation_tokens) AS cache_creation_tokens,
  min(start_time) AS first_span, max(start_time) AS last_span
FROM {core} GROUP BY 1
"""
"""Per UTC day, for trends, anomalies and the daily cost; its sums, extremes and counts also
give the summary's totals (rolled up over ~30 rows instead of a scan of every span)."""

_LLMOP_SQL = """
SELECT provider, model, name, count(*) AS calls,
  count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced,
  sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
  sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens,
  sum(cost_usd) AS cost_usd,
  sum(input_tokens) FILTER (WHERE cost_usd IS NULL) AS unpriced_input_tokens,
  sum(output_tokens) FILTER (WHERE cost_usd IS NULL) AS unpriced_output_tokens
FROM {core} WHERE is_llm GROUP BY 1, 2, 3
"""
"""Per (provider, model, span name) LLM totals: one scan of the LLM calls for the model,
provider and operation tables."""

_LLM_SQL = """
SELECT provider, model, CAST(sum(calls) AS BIGINT) AS calls,
  CAST(sum(unpriced) AS BIGINT) AS unpriced,
  CAST(coalesce(sum(input_tokens), 0) AS BIGINT) AS input_tokens,
  CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS output_tokens,
  CAST(coalesce(sum(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens,
  CAST(coalesce(sum(cache_creation_tokens), 0) AS BIGINT) AS cache_creation_tokens,
  sum(cost_usd) AS cost_usd,
  CAST(coalesce(sum(unpriced_input_tokens), 0) AS BIGINT) AS unpriced_input_tokens,
  CAST(coalesce(sum(unpriced_output_tokens), 0) AS BIGINT) AS unpriced_output_tokens
FROM {llmop} GROUP BY 1, 2
"""
"""Per (provider, model) LLM totals, for the usage and cost tables (from ``{llmop}``)."""


_SESSIONS_SQL = """
SELECT session_id, user_id, spans, llm_calls, duration_s, cost_usd,
  NOT CASE WHEN has_session THEN session_failed ELSE root_failed END AS completed,
  llm_user_id, llm_cost_usd
FROM (
  SELECT session_id, min(user_id) AS user_id,  -- min: one answer every run
    count(*) FILTER (WHERE span_type IS DISTINCT FROM 'session') AS spans,
    count(*) FILTER (WHERE is_llm) AS llm_calls,
    coalesce(max(duration_us) FILTER (WHERE span_type = 'session'),
             max(epoch_us(start_time) + duration_us) - min(epoch_us(start_time)))
      / 1e6 AS duration_s,
    -- no LLM call: $0; LLM calls none of which is priced: unknown, never $0
    CASE WHEN count(cost_usd) = 0 AND count(*) FILTER (WHERE is_llm) > 0 THEN NULL
         ELSE coalesce(sum(cost_usd), 0) END AS cost_usd,
    coalesce(bool_or(span_type = 'session'), false) AS has_session,
    coalesce(bool_or(is_error AND span_type = 'session'), false) AS session_failed,
    coalesce(bool_or(is_error AND is_root), false) AS root_failed,
    min(user_id) FILTER (WHERE is_llm) AS llm_user_id,
    sum(cost_usd) FILTER (WHERE is_llm) AS llm_cost_usd
  FROM {core} WHERE session_id IS NOT NULL
  GROUP BY session_id)
"""
"""Per session: length, duration, cost and completion for the sessions report, and its LLM
calls' user and cost, from which the cost report's ``by_session`` is read when the sessions
section runs in the same report (one group-by of every session span instead of two)."""

_SHARED = {"ops": _OPS_SQL, "daily": _DAILY_SQL, "llmop": _LLMOP_SQL, "llm": _LLM_SQL,
           "sessions": _SESSIONS_SQL}
"""Shared aggregates by placeholder, each computed on first use into a table."""

_OF_LOCK = threading.Lock()


def _native(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class Engine:
    """Runs report queries over one opened dataset; materialises ``core`` on first use."""

    def __init__(self, ds: Dataset, group_by: str | None = None) -> None:
        self.ds = ds
        self.group_by = group_by
        self._ready = False
        self._built: set[str] = set()
        # sections may run in threads (report.build_report): the view and each shared
        # aggregate are created once, by the first thread that needs them
        self._locks = {key: threading.Lock() for key in (*_SHARED, "core")}
        self.planned: frozenset[str] = frozenset()
        """Sections the current report will run (set by ``build_report``): a section may
        then read a shared aggregate another one builds anyway."""

    @classmethod
    def of(cls, ds: Dataset, group_by: str | None = None) -> Engine:
        """The engine cached on ``ds`` for this group-by (one core scan per dataset)."""
        cache = ds.cache
        key = ("engine", group_by)
        with _OF_LOCK:
            if key not in cache:
                cache[key] = cls(ds, group_by)
        return cache[key]

    def _prepare(self) -> None:
        if self._ready:
            return
        with self._locks["core"]:
            if not self._ready:
                self._create_core()

    def _create_core(self) -> None:
        # the view and the shared tables live in the dataset's database (not TEMP), so that
        # every cursor of a concurrent report sees them
        con = self.ds.con
        con.execute("SET enable_progress_bar = false")
        try:  # published files never change (they are renamed into place): cache footers
            con.execute("SET parquet_metadata_cache = true")
        except Exception:  # an older DuckDB without the setting
            pass
        name = f"core_{abs(hash(self.group_by)) % 10**8}"
        con.execute(_CORE_SQL.replace("VIEW core", f"VIEW {name}").format(
            group=group_expression(self.group_by)))
        self.core = name
        self._ready = True

    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """``query`` with ``{core}`` standing for the core view and ``{ops}`` / ``{daily}``
        for the shared aggregates (computed on first use)."""
        self._prepare()
        return self.ds.sql(self._expand(query), params)

    def _expand(self, query: str) -> str:
        for key, build in _SHARED.items():
            if "{" + key + "}" in query:
                query = query.replace("{" + key + "}", self._shared(key, build))
        return query.replace("{core}", self.core)

    def _shared(self, key: str, build: str) -> str:
        name = f"_{key}_{self.core}"
        if name not in self._built:
            with self._locks[key]:
                if name not in self._built:
                    self.ds.con.execute(f"CREATE OR REPLACE TABLE {name} AS "
                                        + self._expand(build))
                    self._built.add(name)
        return name

    def table(self, name: str, query: str, params: list[Any] | None = None,
              description: str = "") -> Table:
        return Table.from_arrow(name, self.sql(query, params), description)

    def row(self, query: str, params: list[Any] | None = None) -> dict[str, Any]:
        rows = pylist(self.sql(query, params))
        return {k: _native(v) for k, v in rows[0].items()} if rows else {}

    def scalar(self, query: str, params: list[Any] | None = None) -> Any:
        row = self.row(query, params)
        return next(iter(row.values())) if row else None
