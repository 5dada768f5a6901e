"""Cost report: where the money goes, what is unpriced, and what current prices would say.

Recorded costs (``otelytics.cost.usd`` on the span) are summed as they are; an LLM call with
no cost is *unpriced* and counted apart, never as $0. Re-pricing runs every call's token
counts through ``otelytics.llm.pricing.price`` (the SDK's one price source: genai-prices'
offline data, tier-aware, plus any user prices), and what-if pricing does the same with
another model. Calls are priced once
per distinct (provider, model, token counts) combination, so tiered prices stay exact; above
``max_combinations`` the report falls back to per-model token sums and says so.
"""

from __future__ import annotations

from typing import Any

from otelytics.analysis.dataset import Dataset
from otelytics.analysis.engine import Engine
from otelytics.analysis.models import Section, Table

__all__ = ["cost"]

def _price(model: str, provider: str | None, i: int, o: int, cr: int, cw: int) -> float | None:
    """USD of one call at current prices (``otelytics.llm.pricing``, the one price source:
    genai-prices plus user prices, tier-aware, memoised); None when the model is unknown."""
    from otelytics.llm.pricing import Usage, price

    got = price(provider or "", model, Usage(input_tokens=i, output_tokens=o,
                                             cache_read_tokens=cr, cache_creation_tokens=cw))
    return None if got is None else got.usd


def _by(e: Engine, name: str, expr: str, label: str, where: str = "is_llm") -> Table:
    return e.table(name, f"""
        SELECT {expr} AS "{label}", count(*) AS calls,
          count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls,
          coalesce(sum(input_tokens), 0) AS input_tokens,
          coalesce(sum(output_tokens), 0) AS output_tokens,
          sum(cost_usd) AS cost_usd,
          sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0)
            AS share
        FROM {{core}} WHERE {where} GROUP BY 1 ORDER BY cost_usd DESC, calls DESC, 1
        LIMIT 200""", description=f"LLM cost by {label}")


def _from_llm(e: Engine, key: str) -> Table:
    return e.table(f"by_{key}", f"""
        SELECT {key}, CAST(sum(calls) AS BIGINT) AS calls,
          CAST(sum(unpriced) AS BIGINT) AS unpriced_calls,
          CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
          CAST(sum(output_tokens) AS BIGINT) AS output_tokens, sum(cost_usd) AS cost_usd,
          sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0) AS share
        FROM {{llm}} GROUP BY 1 ORDER BY cost_usd DESC, calls DESC, 1 LIMIT 200""",
                   description=f"LLM cost by {key}")


def cost(ds: Dataset, *, group_by: str | None = None, what_if_model: str | None = None,
         what_if_provider: str | None = None, reprice: bool = True, top: int = 10,
         max_combinations: int = 20000) -> Section:
    """Cost by model, provider, operation, workflow, session and user; daily trend;
    unpriced calls; re-pricing at current prices; optional what-if on another model."""
    e = Engine.of(ds, group_by)
    f = e.row("""
        SELECT sum(cost_usd) AS cost_usd,
          CAST(coalesce(sum(calls), 0) AS BIGINT) AS llm_calls,
          CAST(coalesce(sum(calls - unpriced), 0) AS BIGINT) AS priced_calls,
          CAST(coalesce(sum(unpriced), 0) AS BIGINT) AS unpriced_calls
        FROM {llm}""")
    if "sessions" in e.planned:  # the sessions section groups every session anyway
        by_session = e.sql(f"""
            SELECT session_id, llm_user_id AS user_id, llm_calls AS calls,
              llm_cost_usd AS cost_usd,
              count(*) OVER () AS _sessions, sum(llm_cost_usd) OVER () AS _total
            FROM {{sessions}} WHERE llm_calls > 0
            ORDER BY cost_usd DESC, calls DESC, 1 LIMIT {top}""")
    else:
        by_session = e.sql(f"""
            SELECT session_id, min(user_id) AS user_id, count(*) AS calls,
              sum(cost_usd) AS cost_usd,
              count(*) OVER () AS _sessions, sum(sum(cost_usd)) OVER () AS _total
            FROM {{core}} WHERE is_llm AND session_id IS NOT NULL GROUP BY 1
            ORDER BY cost_usd DESC, calls DESC, 1 LIMIT {top}""")
    f["sessions"] = by_session.column("_sessions")[0].as_py() if by_session.num_rows else 0
    f["session_cost_usd"] = (by_session.column("_total")[0].as_py() if by_session.num_rows
                             else None)
    calls, sess = f.get("llm_calls") or 0, f.get("sessions") or 0
    figures: dict[str, Any] = {
        "cost_usd": f.get("cost_usd"),  # None (shown "-") when no call is priced
        "llm_calls": calls,
        "priced_calls": f.get("priced_calls", 0),
        "unpriced_calls": f.get("unpriced_calls", 0),
        "cost_per_call_usd": (f["cost_usd"] / f["priced_calls"]
                              if f.get("priced_calls") and f.get("cost_usd") is not None
                              else None),
        "sessions_with_llm_calls": sess,
        "cost_per_session_usd": (f["session_cost_usd"] / sess
                                 if sess and f["session_cost_usd"] is not None else None),
    }
    tables = [
        _from_llm(e, "model"),
        _from_llm(e, "provider"),
        e.table("by_operation", """
            SELECT name AS operation, CAST(sum(calls) AS BIGINT) AS calls,
              CAST(sum(unpriced) AS BIGINT) AS unpriced_calls,
              CAST(coalesce(sum(input_tokens), 0) AS BIGINT) AS input_tokens,
              CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS output_tokens,
              sum(cost_usd) AS cost_usd,
              sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0) AS share
            FROM {llmop} GROUP BY 1 ORDER BY cost_usd DESC, calls DESC, 1 LIMIT 200""",
                description="LLM cost by operation"),
        _by(e, "by_workflow", "workflow_name", "workflow", "is_llm AND workflow_name IS NOT NULL"),
        _by(e, "by_user", "user_id", "user", "is_llm AND user_id IS NOT NULL"),
        Table.from_arrow("by_session", by_session.drop_columns(["_sessions", "_total"]),
                         f"the {top} most expensive sessions"),
        e.table("daily", """
            SELECT day, llm_calls AS calls, llm_unpriced AS unpriced_calls, cost_usd
            FROM {daily} WHERE llm_calls > 0 ORDER BY 1""", description="daily cost"),
        e.table("unpriced", """
            SELECT model, provider, unpriced AS calls, unpriced_input_tokens AS input_tokens,
              unpriced_output_tokens AS output_tokens
            FROM {llm} WHERE unpriced > 0 ORDER BY calls DESC, 1, 2""",
                description="LLM calls without a recorded cost (not counted as $0)"),
    ]
    if group_by:
        tables.insert(0, _by(e, "by_group", "grp", group_by))
    notes: list[str] = []
    if reprice and calls:
        rows = e.sql(f"""
            SELECT provider, model, coalesce(sum(input_tokens), 0) AS i,
              coalesce(sum(output_tokens), 0) AS o, coalesce(sum(cache_read_tokens), 0) AS cr,
              coalesce(sum(cache_creation_tokens), 0) AS cw, count(*) AS n,
              sum(cost_usd) AS recorded, count(cost_usd) AS recorded_n
            FROM {{core}} WHERE is_llm GROUP BY provider, model, input_tokens, output_tokens,
              cache_read_tokens, cache_creation_tokens LIMIT {max_combinations + 1}""").to_pylist()
        exact = len(rows) <= max_combinations
        if not exact:
            notes.append(f"more than {max_combinations} distinct token combinations: "
                         "re-priced per model from token sums (tiered prices approximated)")
            rows = e.sql("""
                SELECT provider, model, input_tokens AS i, output_tokens AS o,
                  cache_read_tokens AS cr, cache_creation_tokens AS cw, calls AS n,
                  cost_usd AS recorded, calls - unpriced AS recorded_n FROM {llm}""").to_pylist()
        tables.append(_reprice(rows, exact, None, None, "repriced",
                               "recorded cost vs the same calls at current genai-prices data"))
        if what_if_model:
            tables.append(_reprice(rows, exact, what_if_model, what_if_provider, "what_if",
                                   f"the same calls priced as {what_if_model}"))
            wi = tables[-1]
            figures["what_if_model"] = what_if_model
            priced = [v for v in wi.column("what_if_cost_usd") if v is not None]
            # None (shown "-", JSON null) when no call could be priced as that model
            figures["what_if_cost_usd"] = sum(priced) if priced else None
    return Section("cost", "Cost", figures, tuple(tables), tuple(notes))


def _reprice(rows: list[dict[str, Any]], exact: bool, target: str | None,
             target_provider: str | None, name: str, description: str) -> Table:
    """Price every row's calls (exact: one distinct usage per row, priced once and multiplied;
    otherwise per-model token sums) as their own model, or as ``target``."""
    acc: dict[tuple[Any, Any], list[Any]] = {}
    for r in rows:
        model = target or r["model"]
        provider = target_provider if target else r["provider"]
        n = r["n"]
        price = None
        if model:
            k = n if exact else 1
            one = _price(model, provider, int(r["i"] // k), int(r["o"] // k),
                         int(r["cr"] // k), int(r["cw"] // k))
            price = None if one is None else one * (n if exact else 1)
        a = acc.setdefault((r["provider"], r["model"]), [0, 0.0, 0, 0.0, 0])
        a[0] += n
        a[1] += r["recorded"] or 0.0
        a[2] += r["recorded_n"]
        if price is None:
            a[4] += n
        else:
            a[3] += price
    out = []
    for (provider, model), (n, rec, rec_n, priced, unp) in sorted(
            acc.items(), key=lambda kv: (-kv[1][1], str(kv[0]))):
        new = priced if unp < n else None
        out.append((model, provider, n, rec if rec_n else None, new,
                    None if new is None or not rec_n else new - rec, unp))
    label = "what_if_cost_usd" if target else "current_price_usd"
    return Table(name, ("model", "provider", "calls", "recorded_cost_usd", label, "delta_usd",
                        "unpriceable_calls"), tuple(out), description)
