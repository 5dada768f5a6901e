"""Cost rules: each fires on a dataset built for it (figures computed here independently) and
stays silent on a near miss."""

from __future__ import annotations

import statistics

import pytest

from tests.builders import llm_span, span
from tests.suggest.conftest import at, only, usd


def _children(parent_name: str, calls: list[dict], **parent_kw) -> list[dict]:
    parent = span(parent_name, **parent_kw)
    for c in calls:
        c["trace_id"] = parent["trace_id"]
        c["parent_span_id"] = parent["span_id"]
    return [parent, *calls]


# --- repeated identical calls -------------------------------------------------------------

def test_repeated_calls_fire_with_cache_saving(run):
    costs = [0.010, 0.012, 0.011, 0.009, 0.010, 0.013]
    rows = [llm_span("gpt-4o", request_fingerprint="fp-dup", cost_usd=c, duration_ms=400,
                     attributes={"gen_ai.request.temperature": 0}) for c in costs]
    rows += [llm_span("gpt-4o", request_fingerprint=f"fp-{i}", cost_usd=0.01) for i in range(5)]
    [s] = only(run(rows), "repeated-calls")
    assert s.subject == {"request_fingerprint": "fp-dup"}
    assert s.evidence["calls"] == 6 and s.affected == 5
    assert s.saving_usd == pytest.approx((len(costs) - 1) * statistics.fmean(costs))
    assert s.saving_seconds == pytest.approx(5 * 0.4)
    assert s.confidence == 0.9  # temperature 0: deterministic
    assert set(s.examples) <= {r["trace_id"] for r in rows[:6]} and len(s.examples) == 3


def test_repeated_calls_silent_below_threshold_and_for_failures(run):
    rows = [llm_span("gpt-4o", request_fingerprint="fp", cost_usd=0.01) for _ in range(4)]
    # failed attempts are retries (another rule), not cacheable answers
    rows += [llm_span("gpt-4o", request_fingerprint="fp-err", error_type="500", cost_usd=0.01)
             for _ in range(6)]
    assert only(run(rows), "repeated-calls") == []


def test_repeated_calls_with_temperature_lower_confidence(run):
    rows = [llm_span("gpt-4o", request_fingerprint="fp", cost_usd=0.01,
                     attributes={"gen_ai.request.temperature": 0.8}) for _ in range(5)]
    [s] = only(run(rows), "repeated-calls")
    assert s.confidence == 0.5


# --- prompt-cache misses ------------------------------------------------------------------

def test_prompt_cache_misses_fire_with_cache_read_price(run):
    inputs = [3000 + i for i in range(12)]
    calls = [llm_span("gpt-4o", input_tokens=n, output_tokens=300, cost_usd=0.01) for n in inputs]
    [s] = only(run(_children("answer", calls)), "prompt-cache-miss")
    assert s.subject["caller"] == "answer" and s.subject["model"] == "gpt-4o"
    prefix = min(inputs)
    per_call = usd("gpt-4o", prefix, 0) - usd("gpt-4o", prefix, 0, tcr=prefix)
    assert per_call > 0
    assert s.evidence["misses"] == 12 and s.evidence["prefix_tokens_upper_bound"] == prefix
    assert s.saving_usd == pytest.approx(11 * per_call)
    assert s.confidence == 0.4


def test_prompt_cache_writes_without_reads_raise_confidence(run):
    calls = [llm_span("claude-sonnet-4-5", provider="anthropic", input_tokens=5000,
                      output_tokens=400, gen_ai_cache_creation_tokens=4000, cost_usd=0.03)
             for _ in range(10)]
    [s] = only(run(_children("plan", calls)), "prompt-cache-miss")
    assert s.confidence == 0.7 and s.evidence["cache_writes"] == 10
    per_call = (usd("claude-sonnet-4-5", 5000, 0, provider="anthropic")
                - usd("claude-sonnet-4-5", 5000, 0, tcr=5000, provider="anthropic"))
    assert s.saving_usd == pytest.approx(9 * per_call)


def test_prompt_cache_silent_when_cache_is_read_or_prompts_small(run):
    hits = [llm_span("gpt-4o", input_tokens=3000, output_tokens=300, cache_read_tokens=2048,
                     cost_usd=0.01) for _ in range(12)]
    small = [llm_span("gpt-4o", input_tokens=500, output_tokens=300, cost_usd=0.01)
             for _ in range(12)]
    unknown = [llm_span("my-finetune", input_tokens=3000, output_tokens=300) for _ in range(12)]
    report = run(_children("a", hits) + _children("b", small) + _children("c", unknown))
    assert only(report, "prompt-cache-miss") == []


# --- cheaper model ------------------------------------------------------------------------

_OPENAI_CANDIDATES = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini")


def test_cheaper_model_priced_with_genai_prices(run):
    usage = [(800 + 50 * i, 20 + i) for i in range(10)]
    calls = [llm_span("gpt-4o", input_tokens=i, output_tokens=o, cost_usd=usd("gpt-4o", i, o),
                      attributes={"gen_ai.response.finish_reasons": '["stop"]'})
             for i, o in usage]
    [s] = only(run(_children("classify", calls)), "cheaper-model")
    current = sum(usd("gpt-4o", i, o) for i, o in usage)
    alts = {m: sum(usd(m, i, o) for i, o in usage) for m in _OPENAI_CANDIDATES}
    best = min(alts, key=alts.get)
    assert s.evidence["candidate"] == best
    assert s.evidence["cost_usd"] == pytest.approx(current)
    assert s.saving_usd == pytest.approx(current - alts[best])
    assert s.subject == {"service": "svc", "provider": "openai", "model": "gpt-4o",
                         "caller": "classify"}


@pytest.mark.parametrize("case", ["long_output", "tool_use", "few_calls", "already_cheap"])
def test_cheaper_model_silent(run, case):
    n, out, finish, model = 10, 30, '["stop"]', "gpt-4o"
    if case == "long_output":
        out = 1200
    elif case == "tool_use":
        finish = '["tool_calls"]'
    elif case == "few_calls":
        n = 9
    else:
        model = "gpt-4.1-nano"  # cheaper than every default candidate
    calls = [llm_span(model, input_tokens=900, output_tokens=out, cost_usd=0.01,
                      attributes={"gen_ai.response.finish_reasons": finish}) for _ in range(n)]
    assert only(run(_children("op", calls)), "cheaper-model") == []


# --- prompts that dominate cost -----------------------------------------------------------

def test_dominant_cost_operation(run):
    big_inputs = [1000, 2000, 3000, 4000, 5000]
    big = [llm_span("gpt-4o", input_tokens=n, output_tokens=100, cost_usd=0.09)
           for n in big_inputs]
    small = [llm_span("gpt-4o", input_tokens=200, output_tokens=100, cost_usd=0.01)
             for _ in range(5)]
    report = run(_children("summarise", big) + _children("classify", small))
    [s] = [x for x in only(report, "dominant-cost") if x.subject["dimension"] == "operation"]
    assert s.subject["key"] == "summarise"
    assert s.evidence["share"] == pytest.approx(0.45 / 0.50)
    median = statistics.median(big_inputs)
    unit = usd("gpt-4o", 1_000_000, 0) / 1e6
    assert s.saving_usd == pytest.approx(sum(max(0, n - median) for n in big_inputs) * unit)


def test_dominant_cost_silent_for_a_single_expensive_call(run):
    rows = _children("summarise", [llm_span("gpt-4o", input_tokens=9000, cost_usd=0.5)])
    rows += _children("classify", [llm_span("gpt-4o", cost_usd=0.01) for _ in range(6)])
    assert only(run(rows), "dominant-cost") == []


def test_dominant_cost_silent_when_spend_is_spread(run):
    rows = []
    for name in ("a", "b", "c"):
        rows += _children(name, [llm_span("gpt-4o", cost_usd=0.02, request_fingerprint=f"{name}{i}")
                                 for i in range(3)])
    assert only(run(rows), "dominant-cost") == []


# --- expensive sessions -------------------------------------------------------------------

def test_expensive_outlier_sessions_robust_z(run):
    costs = [0.10, 0.11, 0.09, 0.10, 0.12, 0.08, 0.10, 0.11, 0.09, 0.10, 0.13, 2.50]
    rows = [llm_span("gpt-4o", cost_usd=c, session_id=f"s{i}") for i, c in enumerate(costs)]
    [s] = only(run(rows), "expensive-sessions")
    med = statistics.median(costs)
    mad = statistics.median(abs(c - med) for c in costs)
    outliers = [c for c in costs if 0.6745 * (c - med) / mad > 3.5]
    assert outliers == [2.50]
    assert s.affected == 1 and list(s.evidence["outlier_sessions"]) == ["s11"]
    assert s.saving_usd == pytest.approx(2.50 - med)
    assert s.examples == (rows[-1]["trace_id"],)


def test_expensive_sessions_silent_without_outliers_or_volume(run):
    even = [llm_span("gpt-4o", cost_usd=0.1 + 0.01 * (i % 3), session_id=f"s{i}")
            for i in range(12)]
    assert only(run(even), "expensive-sessions") == []
    few = [llm_span("gpt-4o", cost_usd=c, session_id=f"s{i}")
           for i, c in enumerate([0.1] * 8 + [5.0])]
    assert only(run(few), "expensive-sessions") == []


def test_span_times_do_not_matter_for_cost_rules(run):
    rows = [llm_span("gpt-4o", request_fingerprint="fp", cost_usd=0.01, start=at(3600 * i))
            for i in range(5)]
    [s] = only(run(rows), "repeated-calls")
    assert s.evidence["traces"] == 5


def test_cheaper_model_exact_across_price_tiers(run):
    # gemini-2.5-pro charges a higher rate on every token of a call above 200k input tokens:
    # per-band pricing must match call-by-call calc_price exactly
    usage = [(1000 + 7 * i, 40 + i, 100 * (i % 3)) for i in range(8)]
    usage += [(250_000 + 11 * i, 30, 1000) for i in range(4)]
    calls = [llm_span("gemini-2.5-pro", provider="gcp.gemini", input_tokens=i, output_tokens=o,
                      cache_read_tokens=cr, cost_usd=0.1) for i, o, cr in usage]
    [s] = only(run(_children("extract", calls)), "cheaper-model")

    def total(model):
        return sum(usd(model, i, o, tcr=cr, provider="google") for i, o, cr in usage)

    alts = {m: total(m) for m in ("gemini-2.5-flash", "gemini-2.5-flash-lite")}
    best = min(alts, key=alts.get)
    assert s.evidence["candidate"] == best
    assert s.evidence["cost_usd"] == pytest.approx(total("gemini-2.5-pro"), rel=1e-12)
    assert s.saving_usd == pytest.approx(total("gemini-2.5-pro") - alts[best], rel=1e-12)


def test_session_cost_counts_calls_without_their_own_session_id(run):
    # only the root span names the session (e.g. spans from another SDK via the receiver)
    costs = [0.10, 0.11, 0.09, 0.10, 0.12, 0.08, 0.10, 0.11, 0.09, 0.10, 0.13]
    rows = []
    for i, c in enumerate([*costs, 1.0]):
        root = span("conversation", session_id=f"s{i}")
        parts = [c / 2, c / 2] if i < len(costs) else [0.6, 0.4]
        rows += [root] + [llm_span("gpt-4o", cost_usd=p, trace_id=root["trace_id"],
                                   parent_span_id=root["span_id"]) for p in parts]
    [s] = only(run(rows), "expensive-sessions")
    assert list(s.evidence["outlier_sessions"]) == ["s11"]
    assert s.evidence["outlier_sessions"]["s11"] == pytest.approx(1.0)
    assert s.saving_usd == pytest.approx(1.0 - statistics.median([*costs, 1.0]))
