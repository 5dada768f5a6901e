"""The suggestion rules: detection SQL over the ``spans`` view, evidence, saving and confidence.

Each rule takes a :class:`Context` and yields ``(Suggestion, scope)`` pairs, where ``scope`` is
the number of calls the ``affected`` count is a share of (for the priority). Thresholds live in
:class:`~otelytics.analysis.suggestions.SuggestConfig`; formulas are in ``docs/suggestions.md``.
Prices come from ``otelytics.llm.pricing`` (the SDK's one price source over genai-prices),
priced per distinct usage tuple, so tiered prices stay exact.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from typing import Any

from otelytics.analysis.models import plain
from otelytics.analysis.suggestions import (
    Category,
    SuggestConfig,
    Suggestion,
    Totals,
    fingerprint,
)
from otelytics.llm import pricing as _pricing
from otelytics.semconv import attributes as A

__all__ = ["RULES", "Context", "price", "wilson_lower"]

Item = tuple[Suggestion, int]

_LLM = ("(gen_ai_operation_name IS NOT NULL OR gen_ai_provider_name IS NOT NULL "
        "OR gen_ai_request_model IS NOT NULL)")


def _key(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


_LLM_VIEW = f"""
SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.service_name, s.start_time,
  s.duration_us, s.status_code, s.error_type, s.cost_usd, s.request_fingerprint,
  s.gen_ai_provider_name, s.gen_ai_input_tokens, s.gen_ai_output_tokens, s.usage_estimated,
  TRY_CAST(s.attributes[{_key(A.GEN_AI_REQUEST_TEMPERATURE)}] AS DOUBLE) AS temperature,
  s.attributes[{_key(A.GEN_AI_REQUEST_MAX_TOKENS)}] AS max_tokens,
  coalesce(s.gen_ai_request_model, s.gen_ai_response_model) AS model,
  coalesce(s.gen_ai_input_tokens, 0) AS tin,
  coalesce(s.gen_ai_output_tokens, 0) AS tout,
  coalesce(s.gen_ai_cache_read_tokens, 0) AS tcr,
  coalesce(s.gen_ai_cache_creation_tokens, 0) AS tcw,
  s.status_code = 'ERROR' AS failed,
  coalesce(s.attributes[{_key(A.GEN_AI_RESPONSE_FINISH_REASONS)}], '') AS finish,
  coalesce(p.name, s.name) AS caller
FROM spans s LEFT JOIN (SELECT trace_id, span_id, any_value(name) AS name FROM spans
                        GROUP BY ALL) p
  ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
WHERE {_LLM.replace('gen_ai', 's.gen_ai')}
"""
"""LLM calls, slim: token defaults, ``model`` (as requested), ``caller`` (the parent span's
name, the best proxy for "the same prompt template" we have without reading content).
Materialised once per run as a temp table: every cost rule reads it."""

_TOOL_FINISH = r"""regexp_matches(finish, '(^|")(tool_calls|tool_use|function_call)("|$)')"""
_CUT_FINISH = r"""regexp_matches(finish, '(^|")(length|max_tokens)("|$)')"""
_RATE_LIMITED = ("regexp_matches(lower(coalesce(error_type, '')), "
                 "'429|rate.?limit|too.?many.?requests|throttl|resource.?exhausted')")

def price(model: str, provider: str | None, tin: int, tout: int, tcr: int = 0,
          tcw: int = 0, *, batch: bool = False) -> float | None:
    """USD of one call from ``otelytics.llm.pricing`` (the one price source: genai-prices,
    tier-aware, plus user prices); None when the model is unknown. ``batch``: through the
    provider's batch API (genai-prices' batch prices)."""
    got = _pricing.price(provider or "", model, _pricing.Usage(
        input_tokens=tin, output_tokens=tout, cache_read_tokens=tcr, cache_creation_tokens=tcw),
        batch=batch)
    return None if got is None else got.usd


def wilson_lower(errors: int, n: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval of ``errors / n``."""
    if n == 0:
        return 0.0
    p = errors / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


class Context:
    """The dataset, the config and the period totals, shared by the rules."""

    def __init__(self, ds: Any, config: SuggestConfig) -> None:
        self.ds = ds
        self.config = config
        self.ex_n = 3 * config.max_examples  # examples fetched, before removing repeats
        ds.sql(f"CREATE OR REPLACE TEMP TABLE _llm AS {_LLM_VIEW}")
        row = self.one(f"""
            SELECT count(*), count(*) FILTER (WHERE {_LLM}), coalesce(sum(cost_usd), 0),
                   coalesce(sum(duration_us) FILTER (WHERE parent_span_id IS NULL), 0) / 1e6,
                   coalesce(sum(duration_us), 0) / 1e6, min(start_time), max(end_time)
            FROM spans""")
        root_s = row[3] or row[4]
        start = ds.window.start or row[5]
        end = ds.window.end or row[6]
        self.totals = Totals(int(row[0]), int(row[1]), float(row[2]), float(root_s), start, end)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return self.ds.sql(sql, params).to_pylist()

    def one(self, sql: str) -> tuple[Any, ...]:
        return self.ds.con.execute(sql).fetchall()[0]

    def make(self, rule: str, category: Category, title: str, subject: dict[str, Any], *,
             detail: str, fix: str, validate: str, confidence: float, affected: int,
             saving_usd: float | None = None, saving_seconds: float | None = None,
             evidence: dict[str, Any] | None = None, examples: list[str] | None = None,
             ) -> Suggestion:
        subject = {k: "" if v is None else str(v) for k, v in subject.items()}
        return Suggestion(
            rule=rule, category=category, title=title, subject=subject,
            fingerprint=fingerprint(rule, subject), detail=detail, fix=fix, validate=validate,
            confidence=confidence, affected=int(affected),
            saving_usd=None if saving_usd is None else float(saving_usd),
            saving_seconds=None if saving_seconds is None else float(saving_seconds),
            evidence=_plain_deep(evidence or {}),
            examples=tuple(dict.fromkeys(e for e in (examples or []) if e))[
                : self.config.max_examples],
        )


def _plain_deep(value: Any) -> Any:
    """Evidence as plain Python: DuckDB's wide sums arrive as ``Decimal``, which the JSON
    renderer would otherwise write as a string ("20004")."""
    if isinstance(value, dict):
        return {k: _plain_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_deep(v) for v in value]
    return plain(value)


def _usd(x: float | None) -> str:
    return "unpriced" if x is None else f"${x:,.4f}"


# --------------------------------------------------------------------------------- cost


def repeated_calls(ctx: Context) -> Iterator[Item]:
    """Identical successful requests (same request fingerprint): a response cache would serve
    all but the first."""
    c = ctx.config
    rows = ctx.rows(f"""
        SELECT request_fingerprint AS fp, any_value(model) AS model, count(*) AS n,
               count(DISTINCT trace_id) AS traces, count(cost_usd) AS priced,
               avg(cost_usd) AS mean_cost, sum(cost_usd) AS cost,
               avg(duration_us) / 1e6 AS mean_s,
               max(temperature) AS temp,
               min_by(trace_id, (start_time, span_id), {ctx.ex_n}) AS ex
        FROM _llm WHERE request_fingerprint IS NOT NULL AND NOT failed
        GROUP BY request_fingerprint HAVING count(*) >= ? ORDER BY fp""", [c.min_repeats])
    for r in rows:
        n = r["n"]
        saving = (n - 1) * r["mean_cost"] if r["priced"] else None
        temp = r["temp"]
        confidence = 0.9 if temp == 0 else (0.7 if temp is None else 0.5)
        yield ctx.make(
            "repeated-calls", Category.COST,
            f"{n} identical {r['model']} requests could be served from a cache",
            {"request_fingerprint": r["fp"]},
            detail=(f"The same request (fingerprint {r['fp']}) was sent {n} times in "
                    f"{r['traces']} traces and succeeded each time; total {_usd(r['cost'])}."
                    + (" Temperature > 0: answers may legitimately differ." if temp else "")),
            fix="Cache responses keyed by the request fingerprint (exact-match cache), or "
                "deduplicate the caller.",
            validate="Re-run and check that this fingerprint's call count drops to 1 per "
                     "cache lifetime and the cost of this suggestion's rule falls to ~0.",
            confidence=confidence, affected=n - 1, saving_usd=saving,
            saving_seconds=(n - 1) * r["mean_s"],
            evidence={"calls": n, "traces": r["traces"], "cost_usd": r["cost"],
                      "mean_cost_usd": r["mean_cost"], "temperature": temp},
            examples=list(dict.fromkeys(r["ex"])),
        ), ctx.totals.llm_calls


def prompt_cache_misses(ctx: Context) -> Iterator[Item]:
    """Large prompts from the same caller and model that never read the provider's prompt cache.

    Without content we cannot see the shared prefix: the smallest prompt of the group bounds
    it from above, so the saving is an upper bound (confidence 0.4), raised to 0.7 when the
    calls do write the cache but never read it (the prefix changes between calls)."""
    c = ctx.config
    rows = ctx.rows(f"""
        SELECT service_name AS service, gen_ai_provider_name AS provider, model, caller,
               count(*) AS n, count(*) FILTER (WHERE tcr = 0) AS misses,
               count(*) FILTER (WHERE tcw > 0) AS writes, min(tin) AS prefix,
               median(tin) AS median_in,
               min_by(trace_id, (-tin, span_id), {ctx.ex_n}) FILTER (WHERE tcr = 0) AS ex
        FROM _llm WHERE tin >= ? AND model IS NOT NULL
        GROUP BY ALL HAVING count(*) >= ? ORDER BY ALL""",
                    [c.cache_min_input_tokens, c.cache_min_calls])
    for r in rows:
        n, misses = r["n"], r["misses"]
        if misses / n < c.cache_miss_share:
            continue
        prefix = int(r["prefix"])
        full = price(r["model"], r["provider"], prefix, 0)
        cached = price(r["model"], r["provider"], prefix, 0, prefix)
        if full is None or cached is None or cached >= full:
            continue  # unknown model, or no cache-read price: caching not supported
        per_call = full - cached
        missed_after_first = misses - 1 if misses == n else misses
        writes = r["writes"]
        yield ctx.make(
            "prompt-cache-miss", Category.COST,
            f"{misses} of {n} large {r['model']} prompts from {r['caller']} missed the "
            "prompt cache",
            {"service": r["service"], "provider": r["provider"], "model": r["model"],
             "caller": r["caller"]},
            detail=(f"{misses}/{n} calls of {r['caller']} with >= {c.cache_min_input_tokens} "
                    f"input tokens (median {r['median_in']:.0f}) read 0 cached tokens"
                    + (f"; {writes} of them wrote the cache, so the prefix changes between "
                       "calls." if writes else ".")),
            fix="Put the stable part (system prompt, tools, examples) first and the variable "
                "part last; remove timestamps/ids from the prefix; enable cache_control "
                "where the provider needs it.",
            validate="gen_ai_cache_read_tokens > 0 on most of these calls in the next run, "
                     "and their input cost per call goes down.",
            confidence=0.7 if writes else 0.4, affected=misses,
            saving_usd=missed_after_first * per_call,
            evidence={"calls": n, "misses": misses, "cache_writes": writes,
                      "prefix_tokens_upper_bound": prefix, "median_input_tokens": r["median_in"],
                      "saving_per_call_usd": per_call},
            examples=r["ex"],
        ), ctx.totals.llm_calls


def cheaper_model(ctx: Context) -> Iterator[Item]:
    """Calls with short outputs and no tool use, repriced on cheaper models of the provider."""
    c = ctx.config
    groups = ctx.rows(f"""
        SELECT service_name AS service, gen_ai_provider_name AS provider, model, caller,
               count(*) AS n, avg(failed::INT) AS err, quantile_cont(tout, 0.9) AS out_p90,
               bool_or({_TOOL_FINISH}) AS tools,
               min_by(trace_id, (-coalesce(cost_usd, -1), span_id), {ctx.ex_n}) AS ex
        FROM _llm WHERE model IS NOT NULL GROUP BY ALL HAVING count(*) >= ?
        ORDER BY ALL""", [c.cheap_min_calls])
    for g in groups:
        pid = _pricing.provider_id(g["provider"] or "") or g["provider"]
        candidates = [m for m in c.cheaper_models.get(pid or "", ()) if m != g["model"]]
        if (g["tools"] or g["out_p90"] > c.cheap_max_output_p90 or g["err"] > c.cheap_max_error_rate
                or not candidates):
            continue
        bands = _usage_bands(
            ctx, g["provider"], [g["model"], *candidates], "_llm",
            "caller = ?", [g["service"], g["provider"], g["model"], g["caller"]])
        current = _group_price(g["model"], g["provider"], bands)
        if current is None or current <= 0:
            continue
        best: tuple[float, str] | None = None
        for cand in candidates:
            alt = _group_price(cand, g["provider"], bands)
            if alt is not None and (best is None or alt < best[0]):
                best = (alt, cand)
        if best is None or (current - best[0]) < c.cheap_min_saving_share * current:
            continue
        alt_cost, cand = best
        yield ctx.make(
            "cheaper-model", Category.COST,
            f"{g['caller']} could try {cand} instead of {g['model']}",
            {"service": g["service"], "provider": g["provider"], "model": g["model"],
             "caller": g["caller"]},
            detail=(f"{g['n']} calls with short outputs (p90 {g['out_p90']:.0f} tokens) and no "
                    f"tool use cost ${current:,.4f} on {g['model']}; the same tokens on {cand} "
                    f"would cost ${alt_cost:,.4f} (genai-prices)."),
            fix=f"Route {g['caller']} to {cand} (or a router that escalates hard cases).",
            validate="Run your evaluation set on both models (or an A/B on a sample) and "
                     "switch only if quality holds; then compare cost per call.",
            confidence=0.5, affected=g["n"], saving_usd=current - alt_cost,
            evidence={"calls": g["n"], "output_tokens_p90": g["out_p90"],
                      "error_rate": g["err"], "cost_usd": current, "candidate": cand,
                      "candidate_cost_usd": alt_cost},
            examples=g["ex"],
        ), ctx.totals.llm_calls


def _usage_bands(ctx: Context, provider: str | None, models: list[str], table: str,
                 where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Token sums per tier band (the union of ``models``' tier starts) of the calls of
    ``table`` with the given service, provider and model (the first three ``params``) and
    ``where`` (the other params), for :func:`_group_price`."""
    cuts = sorted({t for m in models for t in (_pricing.tier_starts(provider or "", m) or ())})
    band = " + ".join(f"(tin > {int(t)})::INT" for t in cuts) or "0"
    return ctx.rows(f"""
        SELECT {band} AS band, count(*) AS k, min(tin) AS lo, max(tin) AS hi,
               sum(tin) AS s_in, sum(tout) AS s_out, sum(tcr) AS s_cr, sum(tcw) AS s_cw
        FROM {table} WHERE service_name IS NOT DISTINCT FROM ? AND gen_ai_provider_name
          IS NOT DISTINCT FROM ? AND model = ? AND {where} GROUP BY 1 ORDER BY 1""", params)


def _group_price(model: str, provider: str | None, bands: list[dict[str, Any]], *,
                 batch: bool = False) -> float | None:
    """Exact total price of many calls from per-band sums (no per-call lookups).

    Within one tier band (``otelytics.llm.pricing.tier_starts``) a call's price is affine in
    its token counts, so ``sum(price) = k * price(base) + sum of (rate x token sum)`` where the
    rates are finite differences of ``price`` at points inside the band (batch prices too)."""
    def p(tin: int, tout: int, tcr: int = 0, tcw: int = 0) -> float | None:
        return price(model, provider, tin, tout, tcr, tcw, batch=batch)

    total = 0.0
    for b in bands:
        lo, hi = int(b["lo"]), int(b["hi"])
        base = p(lo, 0)
        top = p(hi, 0)
        out = p(lo, 1_000_000)
        if base is None or top is None or out is None:
            return None
        out_rate = (out - base) / 1_000_000
        in_rate = (top - base) / (hi - lo) if hi > lo else 0.0
        cr_rate = cw_rate = 0.0
        if hi > 0 and b["s_cr"]:
            cr_rate = ((p(hi, 0, hi) or top) - top) / hi
        if hi > 0 and b["s_cw"]:
            cw_rate = ((p(hi, 0, 0, hi) or top) - top) / hi
        total += (base * b["k"] + in_rate * (int(b["s_in"]) - lo * b["k"])
                  + out_rate * int(b["s_out"]) + cr_rate * int(b["s_cr"])
                  + cw_rate * int(b["s_cw"]))
    return total


_DIMENSIONS = {
    "operation": "caller",
    "workflow": "workflow",
    "request_fingerprint": "request_fingerprint",
}
_PRICED = """
    SELECT l.*, w.workflow FROM _llm l LEFT JOIN (
      SELECT trace_id, max(workflow_name) AS workflow FROM spans
      WHERE workflow_name IS NOT NULL GROUP BY trace_id) w ON w.trace_id = l.trace_id
    WHERE l.cost_usd IS NOT NULL"""


def dominant_cost(ctx: Context) -> Iterator[Item]:
    """One operation, workflow or prompt taking at least half of the LLM spend.

    Saving: trimming this group's prompts longer than its median down to the median, priced
    at the model's input price."""
    c = ctx.config
    for dim, expr in _DIMENSIONS.items():
        rows = ctx.rows(f"""
            WITH g AS (SELECT {expr} AS k, sum(cost_usd) AS cost, count(*) AS n,
                              median(tin) AS med,
                              min_by(trace_id, (-cost_usd, span_id), {ctx.ex_n}) AS ex
                       FROM ({_PRICED}) GROUP BY 1)
            SELECT *, cost / sum(cost) OVER () AS share, count(k) OVER () AS groups
            FROM g QUALIFY k IS NOT NULL ORDER BY cost DESC, k LIMIT 1""")
        if not rows:
            continue
        r = rows[0]
        if (r["groups"] < 2 or r["share"] < c.dominant_share or r["cost"] <= 0
                or r["n"] < c.dominant_min_calls):
            continue
        col = expr
        usage = ctx.rows(f"""
            SELECT gen_ai_provider_name AS provider, model, sum(tin - ?) AS excess
            FROM ({_PRICED}) WHERE {col} = ? AND tin > ? GROUP BY ALL ORDER BY ALL""",
                         [r["med"], r["k"], r["med"]])
        saving = 0.0
        for u in usage:
            unit = price(u["model"], u["provider"], 1000, 0) if u["model"] else None
            if unit is not None:  # the base (untiered) input price per token
                saving += unit / 1000 * float(u["excess"])
        yield ctx.make(
            "dominant-cost", Category.COST,
            f"{dim} {r['k']} takes {r['share']:.0%} of LLM spend",
            {"dimension": dim, "key": r["k"]},
            detail=(f"{r['n']} calls of {dim} {r['k']} cost ${r['cost']:,.4f}, "
                    f"{r['share']:.1%} of the priced LLM spend; median prompt "
                    f"{r['med']:.0f} input tokens."),
            fix="Shorten this prompt (trim context, summarise history, retrieve less), cache "
                "its stable prefix, or call it less often.",
            validate="Its share of LLM spend and its input tokens per call in the next run "
                     "(`otelytics report`, cost section).",
            confidence=0.5, affected=r["n"], saving_usd=saving,
            evidence={"dimension": dim, "key": r["k"], "calls": r["n"], "cost_usd": r["cost"],
                      "share": r["share"], "median_input_tokens": r["med"]},
            examples=r["ex"],
        ), ctx.totals.llm_calls


def expensive_sessions(ctx: Context) -> Iterator[Item]:
    """Sessions whose cost is a robust outlier (modified z-score on cost per session)."""
    c = ctx.config
    # a trace belongs to the session any of its spans names, so LLM calls from producers that
    # do not copy session.id onto every span still count
    rows = ctx.rows("""
        WITH ts AS (SELECT trace_id, min(session_id) AS s FROM spans
                    WHERE session_id IS NOT NULL GROUP BY trace_id)
        SELECT ts.s, sum(sp.cost_usd) AS cost, min(sp.trace_id) AS tr
        FROM spans sp JOIN ts USING (trace_id) WHERE sp.cost_usd IS NOT NULL
        GROUP BY ALL ORDER BY ALL""")
    if len(rows) < c.session_min_sessions:
        return
    costs = [r["cost"] for r in rows]
    med = statistics.median(costs)
    mad = statistics.median(abs(x - med) for x in costs)
    if mad > 0:
        def z(x: float) -> float:
            return 0.6745 * (x - med) / mad
    else:
        mean_ad = statistics.fmean(abs(x - med) for x in costs)
        if mean_ad == 0:
            return

        def z(x: float) -> float:
            return (x - med) / (1.253314 * mean_ad)
    out = sorted((r for r in rows if z(r["cost"]) > c.session_z), key=lambda r: -r["cost"])
    if not out:
        return
    excess = sum(r["cost"] - med for r in out)
    yield ctx.make(
        "expensive-sessions", Category.COST,
        f"{len(out)} sessions cost far more than a typical session",
        {"scope": "sessions"},
        detail=(f"{len(out)} of {len(rows)} sessions have a robust z-score > {c.session_z} on "
                f"cost (median ${med:,.4f}); the most expensive cost ${out[0]['cost']:,.4f}."),
        fix="Look at what these sessions did (loops, huge contexts, a power user); cap turns "
            "or tokens per session.",
        validate="The count of outlier sessions and the cost of the top session in the next "
                 "run.",
        confidence=0.5, affected=len(out), saving_usd=excess,
        evidence={"sessions": len(rows), "outliers": len(out), "median_cost_usd": med,
                  "mad_usd": mad, "outlier_sessions": {r["s"]: r["cost"] for r in out[:10]}},
        examples=[r["tr"] for r in out],
    ), len(rows)


_OFFLINE = """
    WITH t AS (
      SELECT trace_id, max(workflow_name) AS workflow FROM spans GROUP BY trace_id
      HAVING count(workflow_name) > 0 AND count(nullif(session_id, '')) = 0
         AND count(nullif(user_id, '')) = 0 AND count(*) FILTER (WHERE kind = 'SERVER') = 0)
    SELECT l.*, t.workflow FROM _llm l JOIN t USING (trace_id) WHERE l.model IS NOT NULL"""
"""LLM calls nobody is waiting for: their trace is a workflow run (a span carries
``workflow_name``) with no session, no user and no SERVER span (no request handler)."""


def batch_api_eligible(ctx: Context) -> Iterator[Item]:
    """High-volume LLM calls of offline workflow runs whose model has a cheaper batch price
    (OpenAI Batch API, Anthropic Message Batches, ...): standard and batch prices both from
    ``otelytics.llm.pricing`` (genai-prices' ``processing: batch`` context), exact per tier
    band. Models without a batch price give no saving and no suggestion."""
    c = ctx.config
    days = ctx.totals.days
    if days <= 0:
        return
    ctx.ds.sql(f"CREATE OR REPLACE TEMP TABLE _offline AS {_OFFLINE}")
    rows = ctx.rows(f"""
        SELECT service_name AS service, workflow, caller, gen_ai_provider_name AS provider,
               model, count(*) AS n, count(DISTINCT trace_id) AS traces,
               sum(cost_usd) AS cost,
               min_by(trace_id, (start_time, span_id), {ctx.ex_n}) FILTER (WHERE first) AS ex
        FROM (SELECT *, row_number() OVER (PARTITION BY trace_id, caller, model
                                           ORDER BY start_time, span_id) = 1 AS first
              FROM _offline)
        GROUP BY service, workflow, caller, provider, model HAVING count(*) >= ?
        ORDER BY ALL""",
                    [c.batch_min_calls_per_day * days])
    for r in rows:
        bands = _usage_bands(ctx, r["provider"], [r["model"]], "_offline",
                             "caller = ? AND workflow = ?",
                             [r["service"], r["provider"], r["model"], r["caller"],
                              r["workflow"]])
        standard = _group_price(r["model"], r["provider"], bands)
        batch = _group_price(r["model"], r["provider"], bands, batch=True)
        if not standard or batch is None or standard - batch <= c.batch_min_saving_share * \
                standard:
            continue  # unknown model, or no (meaningful) batch discount for it
        saving = standard - batch
        per_day = r["n"] / days
        yield ctx.make(
            "batch-api-eligible", Category.COST,
            f"{r['n']} offline {r['model']} calls of {r['workflow']} could use the batch API",
            {"service": r["service"], "workflow": r["workflow"], "caller": r["caller"],
             "provider": r["provider"], "model": r["model"]},
            detail=(f"{r['n']} calls ({per_day:,.0f}/day) from {r['caller']} in runs of "
                    f"workflow {r['workflow']} (no session, user or request handler in their "
                    f"traces) cost {_usd(standard)} at standard prices and would cost "
                    f"{_usd(batch)} through the provider's batch API ({saving / standard:.0%} "
                    "less, genai-prices' batch prices), for results within 24 h."),
            fix=f"Submit {r['caller']}'s requests of {r['workflow']} through the provider's "
                "batch API (OpenAI Batch API, Anthropic Message Batches) and collect the "
                "results asynchronously.",
            validate="These calls disappear from the synchronous spans (or carry batch "
                     "prices) and the workflow's LLM cost per run falls by the batch discount.",
            confidence=0.5, affected=r["n"], saving_usd=saving,
            evidence={"calls": r["n"], "traces": r["traces"], "calls_per_day": per_day,
                      "standard_cost_usd": standard, "batch_cost_usd": batch,
                      "batch_discount": saving / standard, "recorded_cost_usd": r["cost"]},
            examples=r["ex"],
        ), ctx.totals.llm_calls


# --------------------------------------------------------------------------------- reliability


def max_tokens_cutoff(ctx: Context) -> Iterator[Item]:
    """Outputs cut at the max-tokens limit (finish reason ``length`` / ``max_tokens``)."""
    c = ctx.config
    rows = ctx.rows(f"""
        SELECT service_name AS service, model, caller, count(*) AS n,
               count(*) FILTER (WHERE {_CUT_FINISH}) AS cut,
               sum(cost_usd) FILTER (WHERE {_CUT_FINISH}) AS cost,
               coalesce(sum(duration_us) FILTER (WHERE {_CUT_FINISH}), 0) / 1e6 AS secs,
               list(DISTINCT max_tokens)
                 FILTER (WHERE {_CUT_FINISH}) AS limits,
               min_by(trace_id, (start_time, span_id), {ctx.ex_n}) FILTER (WHERE {_CUT_FINISH})
                 AS ex
        FROM _llm GROUP BY ALL ORDER BY ALL""")
    for r in rows:
        if r["cut"] < c.cutoff_min_calls or r["cut"] / r["n"] < c.cutoff_min_rate:
            continue
        limits = sorted(x for x in (r["limits"] or []) if x is not None)
        yield ctx.make(
            "max-tokens-cutoff", Category.RELIABILITY,
            f"{r['cut']} {r['model']} outputs from {r['caller']} were cut at max tokens",
            {"service": r["service"], "model": r["model"], "caller": r["caller"]},
            detail=(f"{r['cut']} of {r['n']} calls ({r['cut'] / r['n']:.1%}) stopped at the "
                    f"token limit{' (max_tokens ' + ', '.join(limits) + ')' if limits else ''};"
                    " their output is likely incomplete."),
            fix="Raise max_tokens, ask for a shorter answer, or continue truncated outputs.",
            validate="Finish reason `length` rate of these calls in the next run (target 0).",
            confidence=0.7, affected=r["cut"], saving_usd=r["cost"], saving_seconds=r["secs"],
            evidence={"calls": r["n"], "truncated": r["cut"], "rate": r["cut"] / r["n"],
                      "max_tokens": limits, "cost_usd": r["cost"]},
            examples=r["ex"],
        ), ctx.totals.llm_calls


def retry_loops(ctx: Context) -> Iterator[Item]:
    """Repeated attempts of the same call in one trace, close in time, each retried after a
    failure: every attempt but the last failed (nobody retries a success; several siblings
    where one happens to fail are not a loop).

    Same call = same request fingerprint, or (no fingerprint) same name under the same parent."""
    c = ctx.config
    rows = ctx.rows(f"""
        WITH a AS (
          SELECT trace_id, span_id, name, service_name, start_time, status_code, cost_usd,
                 duration_us,
                 coalesce(request_fingerprint, coalesce(parent_span_id, '') || '/' || name)
                   AS k FROM spans),
        cand AS (
          SELECT trace_id, k FROM a GROUP BY ALL
          HAVING count(*) >= $1
             AND count(*) FILTER (WHERE status_code = 'ERROR') >= count(*) - 1),
        g AS (
          SELECT *, extract(epoch FROM start_time - lag(start_time) OVER w) AS gap,
                 row_number() OVER w = count(*) OVER (PARTITION BY trace_id, k) AS last
          FROM a SEMI JOIN cand USING (trace_id, k)
          WINDOW w AS (PARTITION BY trace_id, k ORDER BY start_time, span_id)),
        loops AS (
          SELECT trace_id, k, any_value(service_name) AS service, any_value(name) AS name,
                 count(*) AS attempts, count(*) FILTER (WHERE status_code = 'ERROR') AS failed,
                 sum(cost_usd) FILTER (WHERE status_code = 'ERROR') AS wasted_cost,
                 coalesce(sum(duration_us) FILTER (WHERE status_code = 'ERROR'), 0) / 1e6
                   AS wasted_s, coalesce(max(gap), 0) AS max_gap,
                 bool_and(status_code = 'ERROR' OR last) AS all_but_last_failed
          FROM g GROUP BY trace_id, k)
        SELECT service, name, count(*) AS loops, sum(attempts) AS attempts,
               sum(failed) AS failed, sum(wasted_cost) AS cost, sum(wasted_s) AS secs,
               max(attempts) AS worst, min_by(trace_id, (-attempts, trace_id), {ctx.ex_n}) AS ex
        FROM loops
        WHERE attempts >= $1 AND failed >= 1 AND all_but_last_failed AND max_gap <= $2
        GROUP BY ALL ORDER BY ALL""", [c.retry_min_attempts, c.retry_max_gap_s])
    for r in rows:
        yield ctx.make(
            "retry-loop", Category.RELIABILITY,
            f"{r['name']} retries in loops ({r['loops']} traces, up to {r['worst']} attempts)",
            {"service": r["service"], "name": r["name"]},
            detail=(f"In {r['loops']} traces the same {r['name']} call was attempted "
                    f">= {c.retry_min_attempts} times within {c.retry_max_gap_s:.0f} s gaps; "
                    f"{r['failed']} of {r['attempts']} attempts failed."),
            fix="Retry with exponential backoff and jitter and a small attempt cap; do not "
                "retry errors that cannot succeed (4xx other than 429).",
            validate="Attempts per trace for this call and its failed attempts in the next run.",
            confidence=0.8, affected=r["failed"], saving_usd=r["cost"], saving_seconds=r["secs"],
            evidence={"loops": r["loops"], "attempts": r["attempts"], "failed": r["failed"],
                      "max_attempts": r["worst"], "wasted_cost_usd": r["cost"],
                      "wasted_seconds": r["secs"]},
            examples=r["ex"],
        ), ctx.totals.spans


def rate_limit_storms(ctx: Context) -> Iterator[Item]:
    """Minutes with several rate-limited (429-like) errors on the same provider and model."""
    c = ctx.config
    rows = ctx.rows(f"""
        WITH r AS (
          SELECT service_name AS service, coalesce(gen_ai_provider_name, '') AS provider,
                 coalesce(gen_ai_request_model, name) AS target,
                 date_trunc('minute', start_time) AS minute, count(*) AS n,
                 count(*) FILTER (WHERE {_RATE_LIMITED}) AS limited,
                 coalesce(sum(duration_us) FILTER (WHERE {_RATE_LIMITED}), 0) / 1e6 AS secs,
                 sum(cost_usd) FILTER (WHERE {_RATE_LIMITED}) AS cost,
                 min_by(trace_id, (start_time, span_id), {ctx.ex_n}) FILTER (WHERE {_RATE_LIMITED})
                   AS ex
          FROM spans GROUP BY ALL)
        SELECT service, provider, target, sum(n) AS n, sum(limited) AS limited,
               count(*) FILTER (WHERE limited >= ?) AS storm_minutes, max(limited) AS peak,
               sum(secs) AS secs, sum(cost) AS cost, flatten(list(ex ORDER BY minute)) AS ex
        FROM r GROUP BY ALL HAVING count(*) FILTER (WHERE limited >= ?) > 0
        ORDER BY ALL""", [c.storm_min_per_minute, c.storm_min_per_minute])
    for r in rows:
        who = f"{r['provider']} {r['target']}".strip()
        yield ctx.make(
            "rate-limit-storm", Category.RELIABILITY,
            f"Rate-limit storm on {who}: {r['limited']} throttled calls",
            {"service": r["service"], "provider": r["provider"], "target": r["target"]},
            detail=(f"{r['limited']} of {r['n']} calls were rate limited; {r['storm_minutes']} "
                    f"minutes had >= {c.storm_min_per_minute} (peak {r['peak']} in a minute)."),
            fix="Cap concurrency, back off with jitter on 429 (honour Retry-After), batch "
                "requests, or raise the rate-limit tier.",
            validate="Rate-limited calls per minute for this target in the next run (target 0).",
            confidence=0.8, affected=r["limited"], saving_usd=r["cost"], saving_seconds=r["secs"],
            evidence={"calls": r["n"], "rate_limited": r["limited"],
                      "storm_minutes": r["storm_minutes"], "peak_per_minute": r["peak"],
                      "wasted_seconds": r["secs"]},
            examples=list(dict.fromkeys(r["ex"])),
        ), ctx.totals.spans


def fallback_storms(ctx: Context) -> Iterator[Item]:
    """Several models tried for one step: within one trace and one parent span (the same call
    site), at least ``fallback_min_calls`` LLM calls with at least ``fallback_min_models``
    models within ``fallback_window_s``. The storm starts at the first call that opens such a
    window; its model is the primary, calls of the other models are the fallbacks."""
    c = ctx.config
    win = f"to_seconds({float(c.fallback_window_s)!r})"
    rows = ctx.rows(f"""
        WITH a AS (
          SELECT trace_id, span_id, coalesce(parent_span_id, '') AS parent, service_name,
                 caller, model, start_time, failed, cost_usd
          FROM _llm SEMI JOIN (
            SELECT trace_id, coalesce(parent_span_id, '') AS parent FROM _llm
            WHERE model IS NOT NULL GROUP BY ALL
            HAVING count(*) >= $1 AND count(DISTINCT model) >= $2) c
            ON c.trace_id = _llm.trace_id AND c.parent = coalesce(_llm.parent_span_id, '')
          WHERE model IS NOT NULL),
        w AS (
          SELECT trace_id, parent, span_id, model, start_time, count(*) OVER f AS k,
                 len(list_distinct(list(model) OVER f)) AS models
          FROM a WINDOW f AS (PARTITION BY trace_id, parent ORDER BY start_time
                              RANGE BETWEEN CURRENT ROW AND {win} FOLLOWING)),
        s AS (
          SELECT trace_id, parent, min(start_time) AS s0,
                 min_by(model, (start_time, span_id)) AS primary_model
          FROM w WHERE k >= $1 AND models >= $2 GROUP BY ALL),
        t AS (
          SELECT a.trace_id, any_value(a.service_name) AS service, any_value(a.caller) AS caller,
                 s.primary_model, count(*) AS calls,
                 count(*) FILTER (WHERE a.model <> s.primary_model) AS fallbacks,
                 count(*) FILTER (WHERE a.failed AND a.model = s.primary_model) AS failed,
                 sum(a.cost_usd) FILTER (WHERE a.model <> s.primary_model) AS cost,
                 count(a.cost_usd) FILTER (WHERE a.model <> s.primary_model) AS priced,
                 list(DISTINCT a.model) AS models
          FROM a JOIN s ON a.trace_id = s.trace_id AND a.parent = s.parent
          WHERE a.start_time BETWEEN s.s0 AND s.s0 + {win}
          GROUP BY a.trace_id, a.parent, s.primary_model)
        SELECT service, caller, primary_model, count(*) AS traces, sum(calls)::BIGINT AS calls,
               sum(fallbacks)::BIGINT AS fallbacks, sum(failed)::BIGINT AS failed,
               sum(cost) AS cost, sum(priced)::BIGINT AS priced,
               list_sort(list_distinct(flatten(list(models)))) AS models,
               min_by(trace_id, (-coalesce(cost, 0), -calls, trace_id), {ctx.ex_n}) AS ex
        FROM t GROUP BY ALL ORDER BY ALL""", [c.fallback_min_calls, c.fallback_min_models])
    for r in rows:
        others = [m for m in r["models"] if m != r["primary_model"]]
        cost = r["cost"] if r["priced"] else None
        yield ctx.make(
            "fallback-storm", Category.RELIABILITY,
            f"{r['caller']} falls back from {r['primary_model']} to {', '.join(others)} "
            f"({r['traces']} traces)",
            {"service": r["service"], "caller": r["caller"], "primary_model": r["primary_model"]},
            detail=(f"In {r['traces']} traces, {r['caller']} called {len(r['models'])} models "
                    f"({', '.join(r['models'])}) {r['calls']} times within "
                    f"{c.fallback_window_s:.0f} s; {r['fallbacks']} calls went to models other "
                    f"than {r['primary_model']} (cost {_usd(cost)}); {r['failed']} "
                    f"{r['primary_model']} calls failed."),
            fix=f"Find why {r['primary_model']} fails or is rejected here (see the failed "
                "calls and the example traces) and fix that; cap fallbacks per request.",
            validate="Calls per trace of this step and the share going to the fallback "
                     "models in the next run.",
            confidence=0.8 if r["failed"] else 0.5, affected=r["fallbacks"], saving_usd=cost,
            evidence={"traces": r["traces"], "calls": r["calls"], "models": r["models"],
                      "fallback_calls": r["fallbacks"], "failed_primary_calls": r["failed"],
                      "fallback_cost_usd": cost},
            examples=r["ex"],
        ), ctx.totals.llm_calls


def error_hotspots(ctx: Context) -> Iterator[Item]:
    """Operations whose error rate is high with confidence: the Wilson lower bound (95 %) is
    above ``max(2 x the error rate of all other spans, 5 %)``."""
    c = ctx.config
    total = ctx.one("SELECT count(*), count(*) FILTER (WHERE status_code = 'ERROR') FROM spans")
    rows = ctx.rows(f"""
        SELECT service_name AS service, name, count(*) AS n,
               count(*) FILTER (WHERE status_code = 'ERROR') AS errors,
               sum(cost_usd) FILTER (WHERE status_code = 'ERROR') AS cost,
               coalesce(sum(duration_us) FILTER (WHERE status_code = 'ERROR'), 0) / 1e6 AS secs,
               histogram(coalesce(error_type, '(none)'))
                 FILTER (WHERE status_code = 'ERROR') AS types,
               min_by(trace_id, (start_time, span_id), {ctx.ex_n})
                 FILTER (WHERE status_code = 'ERROR') AS ex
        FROM spans GROUP BY ALL HAVING count(*) >= ? ORDER BY ALL""", [c.hotspot_min_calls])
    for r in rows:
        n, e = r["n"], r["errors"]
        others_n, others_e = total[0] - n, total[1] - e
        base = others_e / others_n if others_n else 0.0
        threshold = max(2 * base, c.hotspot_min_rate)
        lower = wilson_lower(e, n, c.wilson_z)
        if lower <= threshold:
            continue
        types = dict(r["types"] or [])
        top = sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))
        yield ctx.make(
            "error-hotspot", Category.RELIABILITY,
            f"{r['name']} fails {e / n:.1%} of the time",
            {"service": r["service"], "name": r["name"]},
            detail=(f"{e} of {n} calls failed (95% Wilson lower bound {lower:.1%}, above "
                    f"{threshold:.1%}); top error {top[0][0]} ({top[0][1]})."),
            fix=f"Fix the top error type ({top[0][0]}) of {r['name']}; see the example traces.",
            validate="Its error rate's Wilson upper bound in the next run is below the "
                     "threshold (`otelytics check --max-error-rate`).",
            confidence=0.9, affected=e, saving_usd=r["cost"], saving_seconds=r["secs"],
            evidence={"calls": n, "errors": e, "error_rate": e / n, "wilson_lower": lower,
                      "threshold": threshold, "baseline_error_rate": base,
                      "error_types": dict(top)},
            examples=list(dict.fromkeys(r["ex"])),
        ), ctx.totals.spans


# --------------------------------------------------------------------------------- performance


def p95_regression(ctx: Context) -> Iterator[Item]:
    """Operations whose p95 grew against their own history: the period of the same length just
    before the window (same filters). Needs a bounded window; silent otherwise."""
    from otelytics.analysis.dataset import Window, open_dataset

    c = ctx.config
    w = ctx.ds.window
    if w.start is None or w.end is None:
        return
    before = Window(w.start - (w.end - w.start), w.start)
    q = """SELECT service_name AS service, name, count(*) AS n,
                  quantile_cont(duration_us / 1e6, 0.95) AS p95, avg(duration_us) / 1e6 AS mean
           FROM spans GROUP BY ALL HAVING count(*) >= ? ORDER BY ALL"""
    with open_dataset(ctx.ds.root, window=before, filters=ctx.ds.filters) as old_ds:
        if not old_ds.files["spans"]:
            return
        old = {(r["service"], r["name"]): r
               for r in old_ds.sql(q, [c.regression_min_calls]).to_pylist()}
    for r in ctx.rows(q, [c.regression_min_calls]):
        o = old.get((r["service"], r["name"]))
        if (o is None or r["p95"] < c.regression_ratio * o["p95"]
                or r["p95"] - o["p95"] < c.regression_min_delta_s):
            continue
        extra = max(0.0, (r["mean"] - o["mean"]) * r["n"])
        ex = ctx.rows(f"""SELECT min_by(trace_id, (-duration_us, span_id), {ctx.ex_n}) AS ex
                          FROM spans WHERE service_name IS NOT DISTINCT FROM ? AND name = ?""",
                      [r["service"], r["name"]])[0]["ex"]
        yield ctx.make(
            "p95-regression", Category.PERFORMANCE,
            f"{r['name']} got slower: p95 {o['p95']:.3g}s -> {r['p95']:.3g}s",
            {"service": r["service"], "name": r["name"]},
            detail=(f"p95 of {r['name']} is {r['p95'] / o['p95']:.1f}x the previous period's "
                    f"({r['n']} calls now, {o['n']} before); mean {o['mean']:.3g}s -> "
                    f"{r['mean']:.3g}s."),
            fix="Look at what changed between the periods (deploys, input sizes, a dependency) "
                "in the slowest traces; `otelytics compare` shows the two periods side by side.",
            validate=f"`otelytics check --max-increase p95:{r['name']}=20%` against the "
                     "previous period.",
            confidence=0.6, affected=r["n"], saving_seconds=extra,
            evidence={"calls": r["n"], "p95_s": r["p95"], "previous_p95_s": o["p95"],
                      "previous_calls": o["n"], "mean_s": r["mean"],
                      "previous_mean_s": o["mean"]},
            examples=list(ex or []),
        ), ctx.totals.spans


def slow_p95(ctx: Context) -> Iterator[Item]:
    """Operations with a heavy tail: p95 at least ``slow_ratio`` x the median.

    Saving: the calls at or above p95 brought down to the median."""
    c = ctx.config
    rows = ctx.rows(f"""
        WITH d AS (SELECT service_name AS service, name, duration_us / 1e6 AS s, trace_id,
                          span_id FROM spans),
        q AS (SELECT service, name, count(*) AS n, quantile_cont(s, 0.5) AS p50,
                     quantile_cont(s, 0.95) AS p95 FROM d GROUP BY ALL HAVING count(*) >= ?)
        SELECT q.service, q.name, any_value(n) AS n, any_value(p50) AS p50, any_value(p95) AS p95,
               coalesce(sum(s - p50) FILTER (WHERE s >= p95), 0) AS saving,
               count(*) FILTER (WHERE s >= p95) AS tail,
               min_by(trace_id, (-s, span_id), {ctx.ex_n}) AS ex
        FROM q JOIN d ON d.service IS NOT DISTINCT FROM q.service AND d.name = q.name
        GROUP BY ALL ORDER BY ALL""", [c.slow_min_calls])
    for r in rows:
        if r["p95"] < c.slow_min_p95_s or r["p95"] < c.slow_ratio * r["p50"]:
            continue
        yield ctx.make(
            "slow-p95", Category.PERFORMANCE,
            f"{r['name']} has a slow tail: p95 {r['p95']:.3g}s vs median {r['p50']:.3g}s",
            {"service": r["service"], "name": r["name"]},
            detail=(f"p95 of {r['name']} is {r['p95'] / r['p50']:.1f}x its median over "
                    f"{r['n']} calls; the {r['tail']} calls at or above p95 spent "
                    f"{r['saving']:.2f}s more than the median."),
            fix="Look at the slowest traces: timeouts, cold caches, large inputs, contention; "
                "add a timeout or hedge the request.",
            validate="p95/p50 of this operation in the next run "
                     "(`otelytics check --max-p95 NAME=...`).",
            confidence=0.6, affected=r["tail"], saving_seconds=r["saving"],
            evidence={"calls": r["n"], "p50_s": r["p50"], "p95_s": r["p95"],
                      "ratio": r["p95"] / r["p50"] if r["p50"] else None,
                      "tail_calls": r["tail"]},
            examples=list(dict.fromkeys(r["ex"])),
        ), ctx.totals.spans


def sequential_calls(ctx: Context) -> Iterator[Item]:
    """N+1: many same-name siblings under one parent, one after another (never overlapping).

    Saving if run in parallel: ``sum(duration) - max(duration)`` per parent."""
    c = ctx.config
    rows = ctx.rows(f"""
        WITH s AS (
          SELECT trace_id, parent_span_id, name, service_name AS service, duration_us,
                 status_code, start_time,
                 lag(end_time) OVER (PARTITION BY trace_id, parent_span_id, name
                                     ORDER BY start_time, span_id) AS prev_end
          FROM spans SEMI JOIN (
            SELECT trace_id, parent_span_id, name FROM spans WHERE parent_span_id IS NOT NULL
            GROUP BY ALL HAVING count(*) >= $1
              AND count(*) FILTER (WHERE status_code = 'ERROR') = 0) USING
            (trace_id, parent_span_id, name)),
        grp AS (
          SELECT trace_id, parent_span_id, name, any_value(service) AS service,
                 count(*) AS k, (sum(duration_us) - max(duration_us)) / 1e6 AS saving
          FROM s GROUP BY ALL
          HAVING bool_and(prev_end IS NULL OR start_time >= prev_end)
             AND (sum(duration_us) - max(duration_us)) / 1e6 >= $2)
        SELECT grp.service, coalesce(p.name, '?') AS parent, grp.name, count(*) AS parents,
               sum(k) AS calls, max(k) AS worst, sum(saving) AS saving,
               min_by(grp.trace_id, (-saving, grp.trace_id), {ctx.ex_n}) AS ex
        FROM grp LEFT JOIN (SELECT trace_id, span_id, any_value(name) AS name FROM spans
                            GROUP BY ALL) p
          ON p.trace_id = grp.trace_id AND p.span_id = grp.parent_span_id
        GROUP BY ALL ORDER BY ALL""", [c.sequential_min_siblings, c.sequential_min_saving_s])
    for r in rows:
        yield ctx.make(
            "sequential-calls", Category.WORKFLOW,
            f"{r['parent']} calls {r['name']} one at a time (N+1)",
            {"service": r["service"], "parent": r["parent"], "name": r["name"]},
            detail=(f"In {r['parents']} runs of {r['parent']}, {r['calls']} {r['name']} calls "
                    f"(up to {r['worst']} per run) ran sequentially without overlap."),
            fix="Batch them into one call, or run them concurrently (asyncio.gather / a pool) "
                "if they are independent.",
            validate=f"Wall time of {r['parent']} in the next run; the children should overlap.",
            confidence=0.6, affected=r["calls"], saving_seconds=r["saving"],
            evidence={"parents": r["parents"], "calls": r["calls"], "max_per_parent": r["worst"],
                      "saving_seconds": r["saving"]},
            examples=r["ex"],
        ), ctx.totals.spans


# --------------------------------------------------------------------------------- data quality


def data_quality(ctx: Context) -> Iterator[Item]:
    """Unpriced models, estimated tokens, inconsistent token partitions, missing attributes."""
    c = ctx.config
    n_llm, n_spans = ctx.totals.llm_calls, ctx.totals.spans
    checks: list[tuple[str, str, str, str, int]] = [
        ("unpriced-model", "cost_usd IS NULL", "model",
         "Add a price override for the model (or upgrade genai-prices), or record the cost "
         "on the span.", n_llm),
        ("estimated-tokens", "usage_estimated", "model",
         "Ask the provider for usage (e.g. stream_options include_usage) so counts are exact.",
         n_llm),
        ("token-partition", "tcr + tcw > tin", "model",
         "Input tokens must include cache read/write tokens; fix the instrumentation that "
         "double counts.", n_llm),
    ]
    for rule, cond, _, fix, scope in checks:
        for r in ctx.rows(f"""
                SELECT coalesce(model, '(none)') AS model, count(*) AS n,
                       min_by(trace_id, (start_time, span_id), {ctx.ex_n}) AS ex
                FROM _llm WHERE {cond} GROUP BY ALL ORDER BY ALL"""):
            if r["n"] / scope < c.quality_min_share:
                continue
            what = {"unpriced-model": "have no price", "estimated-tokens": "have estimated "
                    "token counts", "token-partition": "report more cached than input tokens"}
            yield ctx.make(
                rule, Category.DATA_QUALITY, f"{r['n']} {r['model']} calls {what[rule]}",
                {"model": r["model"]},
                detail=f"{r['n']} of {scope} LLM calls ({r['n'] / scope:.1%}) {what[rule]}; "
                       "cost and token totals are incomplete or unreliable for them.",
                fix=fix, validate=f"No `{rule}` finding for {r['model']} in the next run.",
                confidence=1.0 if rule != "unpriced-model" else 0.9, affected=r["n"],
                evidence={"calls": r["n"], "share": r["n"] / scope}, examples=r["ex"],
            ), scope
    missing = [
        ("model", n_llm, "FROM _llm WHERE model IS NULL",
         "Set gen_ai.request.model on LLM spans (the instrumentation should do it)."),
        ("service.name", n_spans,
         "FROM spans WHERE coalesce(service_name, '') = '' OR service_name LIKE "
         "'unknown_service%'",
         "Set OTEL_SERVICE_NAME (or service_name in otelytics.configure())."),
        ("token usage", n_llm,
         "FROM _llm WHERE gen_ai_input_tokens IS NULL AND gen_ai_output_tokens IS NULL "
         "AND NOT failed",
         "Record gen_ai.usage.* on successful LLM calls (streaming needs usage enabled)."),
    ]
    for attr, scope, from_where, fix in missing:
        if not scope:
            continue
        n, ex = ctx.one(f"SELECT count(*), min_by(trace_id, (start_time, span_id), {ctx.ex_n}) "
                        f"{from_where}")
        if not n or n / scope < c.quality_min_share:
            continue
        yield ctx.make(
            "missing-attribute", Category.DATA_QUALITY, f"{n} spans lack {attr}",
            {"attribute": attr},
            detail=f"{n} of {scope} spans ({n / scope:.1%}) have no {attr}; they cannot be "
                   "grouped or priced correctly.",
            fix=fix, validate=f"No missing {attr} finding in the next run.",
            confidence=1.0, affected=n, evidence={"spans": n, "share": n / scope},
            examples=list(ex or []),
        ), scope


RULES: tuple[Callable[[Context], Iterator[Item]], ...] = (
    repeated_calls, prompt_cache_misses, cheaper_model, dominant_cost, expensive_sessions,
    batch_api_eligible, max_tokens_cutoff, retry_loops, rate_limit_storms, fallback_storms,
    error_hotspots, slow_p95,
    p95_regression, sequential_calls, data_quality,
)
"""Every rule, in a fixed order (the final order is by priority)."""
