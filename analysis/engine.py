"""The query engine under every report: one narrow scan of the spans, then DuckDB SQL.

A full report asks a dozen questions of the same spans. Scanning the Parquet files for each
would cost a dozen scans, so the first report materialises the columns reports group and
aggregate by (no ids, no maps, no events) into an in-memory DuckDB table ``core`` once, with
the ``--group-by`` expression evaluated into ``grp``. Questions that need ids, attributes or
events (slowest spans, error examples, workflow children, parameter values) go to the
``spans`` view with a selective predicate. See docs/analysis.md for the measurements.
"""

from __future__ import annotations

import decimal
from typing import Any

import pyarrow as pa

from otelytics.analysis.dataset import Dataset
from otelytics.analysis.models import Table
from otelytics.exporter.schema import PROMOTED_SPAN_ATTRIBUTES, SPAN_SCHEMA

__all__ = ["Engine", "group_expression"]

_LLM = ("(gen_ai_request_model IS NOT NULL OR gen_ai_response_model IS NOT NULL "
        "OR gen_ai_operation_name IS NOT NULL OR gen_ai_provider_name IS NOT NULL)")

_CORE_SQL = f"""
CREATE TEMP VIEW core AS SELECT
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
  avg(memory_rss_delta_bytes) AS rss_avg,
  count(*) FILTER (WHERE is_llm) AS llm_calls,
  count(*) FILTER (WHERE is_llm AND cost_usd IS NULL) AS llm_unpriced,
  CAST(coalesce(sum(input_tokens) FILTER (WHERE is_llm), 0) AS BIGINT) AS input_tokens,
  CAST(coalesce(sum(output_tokens) FILTER (WHERE is_llm), 0) AS BIGINT) AS output_tokens,
  sum(cost_usd) FILTER (WHERE is_llm) AS cost_usd
FROM {core} GROUP BY 1
"""
"""Per span name: everything the per-operation tables of several reports need, in one scan."""

_DAILY_SQL = """
SELECT day, count(*) AS executions, count(*) FILTER (WHERE is_error) AS errors,
  quantile_cont(duration_us, 0.95) AS p95_us, count(*) FILTER (WHERE is_llm) AS llm_calls,
  count(*) FILTER (WHERE is_llm AND cost_usd IS NULL) AS llm_unpriced,
  CAST(coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0) AS BIGINT) AS tokens,
  sum(cost_usd) AS cost_usd
FROM {core} GROUP BY 1
"""
"""Per UTC day, for trends, anomalies and the daily cost."""

_LLM_SQL = """
SELECT provider, model, count(*) AS calls, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced,
  CAST(coalesce(sum(input_tokens), 0) AS BIGINT) AS input_tokens,
  CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS output_tokens,
  CAST(coalesce(sum(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens,
  CAST(coalesce(sum(cache_creation_tokens), 0) AS BIGINT) AS cache_creation_tokens,
  sum(cost_usd) AS cost_usd,
  CAST(coalesce(sum(input_tokens) FILTER (WHERE cost_usd IS NULL), 0) AS BIGINT)
    AS unpriced_input_tokens,
  CAST(coalesce(sum(output_tokens) FILTER (WHERE cost_usd IS NULL), 0) AS BIGINT)
    AS unpriced_output_tokens
FROM {core} WHERE is_llm GROUP BY 1, 2
"""
"""Per (provider, model) LLM totals, for the usage and cost tables."""


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

    @classmethod
    def of(cls, ds: Dataset, group_by: str | None = None) -> Engine:
        """The engine cached on ``ds`` for this group-by (one core scan per dataset)."""
        cache = ds.cache
        key = ("engine", group_by)
        if key not in cache:
            cache[key] = cls(ds, group_by)
        return cache[key]

    def _prepare(self) -> None:
        if self._ready:
            return
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
        for key, build in (("ops", _OPS_SQL), ("daily", _DAILY_SQL), ("llm", _LLM_SQL)):
            if "{" + key + "}" in query:
                query = query.replace("{" + key + "}", self._shared(key, build))
        return self.ds.sql(query.replace("{core}", self.core), params)

    def _shared(self, key: str, build: str) -> str:
        name = f"_{key}_{self.core}"
        if name not in self._built:
            self.ds.con.execute(f"CREATE TEMP TABLE {name} AS "
                                + build.replace("{core}", self.core))
            self._built.add(name)
        return name

    def table(self, name: str, query: str, params: list[Any] | None = None,
              description: str = "") -> Table:
        return Table.from_arrow(name, self.sql(query, params), description)

    def row(self, query: str, params: list[Any] | None = None) -> dict[str, Any]:
        rows = self.sql(query, params).to_pylist()
        return {k: _native(v) for k, v in rows[0].items()} if rows else {}

    def scalar(self, query: str, params: list[Any] | None = None) -> Any:
        row = self.row(query, params)
        return next(iter(row.values())) if row else None
