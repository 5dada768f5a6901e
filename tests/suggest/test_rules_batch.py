"""batch-api-eligible: high-volume LLM calls of offline workflow runs (no session, user or
request handler). Standard and batch prices are checked against genai-prices directly
(``processing: batch`` for the batch price), call by call."""

from __future__ import annotations

import datetime as dt

import pytest
from genai_prices import Usage, calc_price

from otelytics.analysis.dataset import Window
from tests.builders import BASE_TIME, llm_span, span
from tests.suggest.conftest import at, only, usd

DAY = Window(BASE_TIME, BASE_TIME + dt.timedelta(days=1))


def _runs(n_traces: int, per_trace: int, *, model: str = "gpt-4o", provider: str = "openai",
          workflow: str | None = "nightly-eval", t0: float = 0.0, kind: str = "INTERNAL",
          **root_kw) -> list[dict]:
    """``n_traces`` runs of a workflow, each a root ``grade`` span and its LLM calls."""
    rows = []
    for t in range(n_traces):
        root = span("grade", start=at(t0 + 60 * t), workflow_name=workflow, kind=kind,
                    **root_kw)
        rows.append(root)
        for i in range(per_trace):
            tin, tout = 1000 + 37 * i + t, 50 + (i * 13) % 90
            rows.append(llm_span(model, provider=provider, trace_id=root["trace_id"],
                                 parent_span_id=root["span_id"], start=at(t0 + 60 * t + i),
                                 input_tokens=tin, output_tokens=tout,
                                 cost_usd=usd(model, tin, tout, provider=provider)))
    return rows


def _llm(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("gen_ai_request_model")]


def _batch_usd(rows: list[dict], model: str, provider: str) -> float:
    """genai-prices' own batch price of each call, summed."""
    return sum(float(calc_price(Usage(input_tokens=r["gen_ai_input_tokens"],
                                      output_tokens=r["gen_ai_output_tokens"]), model,
                                provider_id=provider,
                                price_context={"processing": "batch"}).total_price)
               for r in _llm(rows))


def test_batch_api_eligible_fires_with_batch_saving(run):
    offline = _runs(12, 10)  # 120 calls in one day
    claude = _runs(11, 10, model="claude-haiku-4-5", provider="anthropic", t0=3000)
    interactive = (_runs(12, 10, t0=6000, session_id="s1")  # a conversation
                   + _runs(12, 10, t0=9000, user_id="u1")  # a user waiting
                   + _runs(12, 10, t0=12000, kind="SERVER")  # a request handler
                   + _runs(12, 10, t0=15000, workflow=None)  # not a workflow run
                   + _runs(12, 10, model="deepseek-chat", provider="deepseek", t0=18000))
    report = run(offline + claude + interactive, window=DAY)
    found = {s.subject["model"]: s for s in only(report, "batch-api-eligible")}
    assert set(found) == {"gpt-4o", "claude-haiku-4-5"}
    s = found["gpt-4o"]
    assert s.category == "cost"
    assert s.subject == {"service": "svc", "workflow": "nightly-eval", "caller": "grade",
                         "provider": "openai", "model": "gpt-4o"}
    calls = _llm(offline)
    standard = sum(usd("gpt-4o", r["gen_ai_input_tokens"], r["gen_ai_output_tokens"])
                   for r in calls)
    batch = _batch_usd(offline, "gpt-4o", "openai")
    assert s.evidence["calls"] == 120 and s.evidence["traces"] == 12
    assert s.evidence["calls_per_day"] == pytest.approx(120.0)
    assert s.evidence["standard_cost_usd"] == pytest.approx(standard, rel=1e-9)
    assert s.saving_usd == pytest.approx(standard - batch, rel=1e-9)
    assert s.evidence["batch_cost_usd"] == pytest.approx(batch, rel=1e-9)
    assert s.evidence["batch_discount"] == pytest.approx(1 - batch / standard, rel=1e-9)
    assert s.confidence == 0.5 and s.affected == 120
    assert set(s.examples) <= {r["trace_id"] for r in calls} and len(s.examples) == 3
    assert f"{1 - batch / standard:.0%} less" in s.detail
    h = found["claude-haiku-4-5"]
    assert h.evidence["calls"] == 110
    h_standard = sum(usd("claude-haiku-4-5", r["gen_ai_input_tokens"],
                         r["gen_ai_output_tokens"], provider="anthropic") for r in _llm(claude))
    assert h.saving_usd == pytest.approx(
        h_standard - _batch_usd(claude, "claude-haiku-4-5", "anthropic"), rel=1e-9)
    # deepseek-chat has no batch price in genai-prices: no saving, no suggestion (above)


def test_batch_api_eligible_needs_volume_per_day(run):
    rows = _runs(12, 10)  # 120 calls
    two_days = Window(BASE_TIME, BASE_TIME + dt.timedelta(days=2))  # 60 a day
    assert only(run(rows, window=two_days), "batch-api-eligible") == []
    assert only(run(_runs(9, 10), window=DAY), "batch-api-eligible") == []  # 90 a day
    [s] = only(run(rows, window=two_days, batch_min_calls_per_day=50), "batch-api-eligible")
    assert s.evidence["calls_per_day"] == pytest.approx(60.0)


def test_batch_saving_floor_is_configurable(run):
    rows = _runs(12, 10)
    [s] = only(run(rows, window=DAY), "batch-api-eligible")
    share = s.saving_usd / s.evidence["standard_cost_usd"]
    assert only(run(rows, window=DAY, batch_min_saving_share=share + 0.01),
                "batch-api-eligible") == []


def test_batch_api_eligible_fingerprint_is_stable(run):
    a = only(run(_runs(12, 10), window=DAY), "batch-api-eligible")[0]
    b = only(run(_runs(15, 10), window=DAY), "batch-api-eligible")[0]
    assert a.evidence["calls"] != b.evidence["calls"]
    assert a.fingerprint == b.fingerprint
