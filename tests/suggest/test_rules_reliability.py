"""Reliability rules: max-tokens cut-offs, retry loops, rate-limit storms, error hot spots."""

from __future__ import annotations

import json
import math

import pytest

from otelytics.analysis.suggest_render import render_json
from tests.builders import llm_span, span
from tests.suggest.conftest import at, only

_LENGTH = {"gen_ai.response.finish_reasons": '["length"]', "gen_ai.request.max_tokens": 256}
_STOP = {"gen_ai.response.finish_reasons": '["stop"]', "gen_ai.request.max_tokens": 256}


def test_max_tokens_cutoff_fires(run):
    cut = [llm_span("gpt-4o", output_tokens=256, cost_usd=0.02 + 0.001 * i, duration_ms=900,
                    attributes=_LENGTH) for i in range(4)]
    ok = [llm_span("gpt-4o", cost_usd=0.01, attributes=_STOP) for _ in range(6)]
    # Anthropic spells it max_tokens
    anth = [llm_span("claude-haiku-4-5", provider="anthropic", cost_usd=0.01,
                     attributes={"gen_ai.response.finish_reasons": '["max_tokens"]'})
            for _ in range(3)]
    report = run(cut + ok + anth)
    found = {s.subject["model"]: s for s in only(report, "max-tokens-cutoff")}
    s = found["gpt-4o"]
    assert s.evidence["truncated"] == 4 and s.evidence["calls"] == 10
    assert s.evidence["rate"] == pytest.approx(0.4)
    assert s.evidence["max_tokens"] == ["256"]
    assert s.saving_usd == pytest.approx(sum(r["cost_usd"] for r in cut))
    assert s.saving_seconds == pytest.approx(4 * 0.9)
    assert set(s.examples) <= {r["trace_id"] for r in cut}
    assert found["claude-haiku-4-5"].evidence["truncated"] == 3


def test_max_tokens_cutoff_silent_when_rare(run):
    rows = [llm_span("gpt-4o", attributes=_LENGTH) for _ in range(2)]
    rows += [llm_span("gpt-4o", attributes=_STOP) for _ in range(3)]
    rows += [llm_span("gpt-4o-mini", attributes=_LENGTH) for _ in range(3)]
    rows += [llm_span("gpt-4o-mini", attributes=_STOP) for _ in range(97)]  # 2.9 % < 5 %
    assert only(run(rows), "max-tokens-cutoff") == []


def _attempts(trace: str, gaps: list[float], errors: list[str | None], **kw) -> list[dict]:
    t, rows = 0.0, []
    for gap, err in zip(gaps, errors, strict=True):
        t += gap
        rows.append(llm_span("gpt-4o", trace_id=trace, request_fingerprint="fp-retry",
                             start=at(t), duration_ms=2000, error_type=err,
                             cost_usd=None if err else 0.01, **kw))
    return rows


def test_retry_loop_fires_with_wasted_time(run):
    rows = _attempts("a" * 32, [0, 1, 2, 4], ["APITimeoutError"] * 3 + [None])
    rows += _attempts("b" * 32, [100, 1, 2], ["APITimeoutError"] * 2 + [None])
    report = run(rows)
    [s] = only(report, "retry-loop")
    assert s.subject == {"service": "svc", "name": "chat gpt-4o"}
    assert s.evidence["loops"] == 2 and s.evidence["attempts"] == 7
    assert s.evidence["failed"] == 5 and s.evidence["max_attempts"] == 4
    # plain ints (DuckDB sums are Decimals), so the JSON has numbers, not "7"
    assert {type(s.evidence[k]) for k in ("loops", "attempts", "failed")} == {int}
    [doc] = [x for x in json.loads(render_json(report))["suggestions"]
             if x["rule"] == "retry-loop"]
    assert doc["evidence"]["attempts"] == 7 and doc["evidence"]["failed"] == 5
    assert s.saving_seconds == pytest.approx(5 * 2.0)
    assert s.examples[0] == "a" * 32  # the worst loop first


def test_retry_loop_for_tool_spans_without_fingerprint(run):
    parent = span("agent", trace_id="c" * 32)
    rows = [parent] + [span("search_tool", trace_id="c" * 32, parent_span_id=parent["span_id"],
                            start=at(i), error_type="TimeoutError" if i < 3 else None)
                       for i in range(4)]
    [s] = only(run(rows), "retry-loop")
    assert s.subject["name"] == "search_tool" and s.evidence["failed"] == 3


@pytest.mark.parametrize("case", ["slow_gaps", "no_failure", "two_attempts",
                                  "failure_then_successes", "siblings_one_failed"])
def test_retry_loop_silent(run, case):
    if case == "slow_gaps":  # 10 minutes apart: separate attempts, not a loop
        rows = _attempts("d" * 32, [0, 600, 600, 600], ["APITimeoutError"] * 3 + [None])
    elif case == "no_failure":
        rows = _attempts("e" * 32, [0, 1, 1, 1], [None] * 4)
    elif case == "two_attempts":
        rows = _attempts("f" * 32, [0, 1], ["APITimeoutError", None])
    elif case == "failure_then_successes":  # repeated after a success: not retries
        rows = _attempts("g" * 32, [0, 1, 1, 1], ["APITimeoutError", None, None, None])
    else:  # three different tool calls under one parent, the middle one failed
        parent = span("agent", trace_id="h" * 32)
        rows = [parent] + [span("search_tool", trace_id="h" * 32,
                                parent_span_id=parent["span_id"], start=at(i),
                                error_type="TimeoutError" if i == 1 else None)
                           for i in range(3)]
    assert only(run(rows), "retry-loop") == []


def test_rate_limit_storm_fires(run):
    storm = [llm_span("gpt-4o-mini", start=at(600 + 5 * i), error_type=t, duration_ms=300)
             for i, t in enumerate(["429", "RateLimitError", "429", "rate_limit_exceeded", "429"])]
    calm = [llm_span("gpt-4o-mini", start=at(700 + 60 * i)) for i in range(5)]
    [s] = only(run(storm + calm), "rate-limit-storm")
    assert s.subject == {"service": "svc", "provider": "openai", "target": "gpt-4o-mini"}
    assert s.evidence["rate_limited"] == 5 and s.evidence["calls"] == 10
    assert s.evidence["storm_minutes"] == 1 and s.evidence["peak_per_minute"] == 5
    assert s.saving_seconds == pytest.approx(5 * 0.3)


def test_rate_limits_spread_out_are_not_a_storm(run):
    rows = [llm_span("gpt-4o-mini", start=at(60 * i), error_type="429") for i in range(5)]
    rows += [llm_span("gpt-4o-mini", start=at(1 + 60 * i)) for i in range(5)]
    assert only(run(rows), "rate-limit-storm") == []


def _wilson_lower(e: int, n: int, z: float = 1.96) -> float:
    p = e / n
    margin = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return (p + z**2 / (2 * n) - margin) / (1 + z**2 / n)


def test_error_hotspot_uses_wilson_lower_bound(run):
    flaky = [span("flaky", error_type="KeyError" if i < 7 else ("IOError" if i < 9 else None),
                  duration_ms=50, cost_usd=0.001 if i < 9 else None) for i in range(30)]
    healthy = [span("healthy", error_type="KeyError" if i == 0 else None) for i in range(100)]
    [s] = only(run(flaky + healthy), "error-hotspot")
    assert s.subject["name"] == "flaky"
    assert s.evidence["errors"] == 9 and s.evidence["calls"] == 30
    assert s.evidence["wilson_lower"] == pytest.approx(_wilson_lower(9, 30))
    assert s.evidence["threshold"] == pytest.approx(max(2 * 1 / 100, 0.05))
    assert s.evidence["error_types"] == {"KeyError": 7, "IOError": 2}
    assert s.saving_usd == pytest.approx(9 * 0.001)
    assert s.saving_seconds == pytest.approx(9 * 0.05)


def test_error_hotspot_silent_when_raw_rate_high_but_bound_low(run):
    # 3/30 = 10 % raw (above 5 %), but the Wilson lower bound is ~3.5 %: not enough evidence
    rows = [span("op", error_type="E" if i < 3 else None) for i in range(30)]
    assert _wilson_lower(3, 30) < 0.05 < 3 / 30
    assert only(run(rows), "error-hotspot") == []


def test_error_hotspot_relative_to_the_rest(run):
    # everything fails ~40 %: the threshold is twice the others' rate, so no single hot spot
    rows = [span(name, error_type="E" if i % 5 < 2 else None)
            for name in ("a", "b", "c") for i in range(40)]
    assert only(run(rows), "error-hotspot") == []
