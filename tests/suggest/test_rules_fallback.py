"""fallback-storm: several models tried for one step of one trace within the window; figures
computed here from the rows (and genai-prices), never by the code under test."""

from __future__ import annotations

import json

import pytest

from otelytics.analysis.cli import main
from tests.builders import llm_span, span, write_spans
from tests.suggest.conftest import at, only, usd

_CLAUDE = {"provider": "anthropic"}


def _step(trace: str, calls: list[tuple[float, str, str | None]], parent: str = "answer",
          t0: float = 0.0) -> list[dict]:
    """A ``parent`` span and its LLM calls: (seconds after t0, model, error type)."""
    p = span(parent, trace_id=trace, start=at(t0))
    rows = [p]
    for s, model, err in calls:
        kw = _CLAUDE if model.startswith("claude") else {}
        cost = None if err else usd(model, 1200, 150, provider=kw.get("provider", "openai"))
        rows.append(llm_span(model, trace_id=trace, parent_span_id=p["span_id"],
                             start=at(t0 + s), input_tokens=1200, output_tokens=150,
                             error_type=err, cost_usd=cost, **kw))
    return rows


def _storms() -> list[dict]:
    rows = _step("a" * 32, [(0, "gpt-4o", "APITimeoutError"), (10, "gpt-4o", "APITimeoutError"),
                            (20, "claude-sonnet-4-5", None),
                            (400, "claude-sonnet-4-5", None)])  # outside the 180 s window
    rows += _step("b" * 32, [(0, "gpt-4o", "RateLimitError"), (30, "gpt-4o-mini", None),
                             (180, "gpt-4o-mini", None)], t0=1000)  # 180 s: still inside
    return rows


def test_fallback_storm_fires_with_fallback_cost(run):
    rows = _storms()
    [s] = only(run(rows), "fallback-storm")
    assert s.category == "reliability"
    assert s.subject == {"service": "svc", "caller": "answer", "primary_model": "gpt-4o"}
    fallback = [r for r in rows if r.get("gen_ai_request_model") not in (None, "gpt-4o")
                and r["start_time"] not in (at(400),)]
    expected = (usd("claude-sonnet-4-5", 1200, 150, provider="anthropic")
                + 2 * usd("gpt-4o-mini", 1200, 150))
    assert sum(r["cost_usd"] for r in fallback) == pytest.approx(expected)
    assert s.evidence == {
        "traces": 2, "calls": 6, "fallback_calls": 3, "failed_primary_calls": 3,
        "models": ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini"],
        "fallback_cost_usd": pytest.approx(expected)}
    assert s.saving_usd == pytest.approx(expected) and s.affected == 3
    assert s.confidence == 0.8  # the primary failed: a fallback proper
    # the costlier fallback first
    assert s.examples == ("a" * 32, "b" * 32)


def test_model_switch_without_primary_failure_has_lower_confidence(run):
    # the only failure is a fallback call: the primary never failed
    rows = _step("c" * 32, [(0, "gpt-4o-mini", None), (5, "gpt-4o", "APITimeoutError"),
                            (9, "gpt-4o", None), (12, "gpt-4o", None)])
    [s] = only(run(rows), "fallback-storm")
    assert s.evidence["failed_primary_calls"] == 0
    assert s.subject["primary_model"] == "gpt-4o-mini"
    assert s.confidence == 0.5 and s.evidence["fallback_calls"] == 3
    assert s.saving_usd == pytest.approx(2 * usd("gpt-4o", 1200, 150))


@pytest.mark.parametrize("case", ["two_calls", "four_minutes_apart", "one_model",
                                  "different_parents", "different_traces"])
def test_fallback_storm_silent(run, case):
    if case == "two_calls":
        rows = _step("d" * 32, [(0, "gpt-4o", "APITimeoutError"), (5, "claude-sonnet-4-5", None)])
    elif case == "four_minutes_apart":
        rows = _step("e" * 32, [(0, "gpt-4o", "APITimeoutError"), (240, "gpt-4o-mini", None),
                                (480, "gpt-4o", None)])
    elif case == "one_model":
        rows = _step("f" * 32, [(0, "gpt-4o", "APITimeoutError"), (5, "gpt-4o", None),
                                (9, "gpt-4o", None)])
    elif case == "different_parents":  # a planner and its workers: a pipeline, not a fallback
        rows = _step("9" * 32, [(0, "gpt-4o", None)], parent="plan")
        rows += _step("9" * 32, [(1, "gpt-4o-mini", None), (2, "gpt-4o-mini", None)],
                      parent="work")
    else:
        rows = _step("1" * 32, [(0, "gpt-4o", None), (1, "gpt-4o-mini", None)])
        rows += _step("2" * 32, [(2, "gpt-4o", None), (3, "gpt-4o-mini", None)])
    assert only(run(rows), "fallback-storm") == []


def test_fallback_storm_thresholds_are_configurable(run):
    rows = _step("3" * 32, [(0, "gpt-4o", "APITimeoutError"), (240, "gpt-4o-mini", None),
                            (480, "gpt-4o", None)])
    [s] = only(run(rows, fallback_window_s=600.0), "fallback-storm")
    assert s.evidence["calls"] == 3
    assert only(run(_storms(), fallback_min_calls=4), "fallback-storm") == []


def test_fallback_storm_fingerprint_is_stable_and_json_consistent(run, tmp_path, capsys):
    first = only(run(_storms()), "fallback-storm")[0]
    # another storm trace changes the figures, not the finding's identity
    more = _storms() + _step("4" * 32, [(0, "gpt-4o", "E"), (1, "gpt-4o", "E"),
                                        (2, "gpt-4o-mini", None)], t0=5000)
    second = only(run(more), "fallback-storm")[0]
    assert second.evidence["traces"] == 3
    assert first.fingerprint == second.fingerprint == only(run(_storms()), "fallback-storm")[
        0].fingerprint
    write_spans(tmp_path / "cli", _storms())
    assert main(["suggest", str(tmp_path / "cli"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [d] = [x for x in doc["suggestions"] if x["rule"] == "fallback-storm"]
    assert d["fingerprint"] == first.fingerprint and d["category"] == "reliability"
    assert d["evidence"]["models"] == ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini"]
    assert d["evidence"]["calls"] == 6 and d["evidence"]["fallback_calls"] == 3  # ints
    assert set(d) == set(first.to_dict())
