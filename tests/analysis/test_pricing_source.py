"""Analysis prices calls with the SDK's ``otelytics.llm.pricing`` (one source of truth), so
user prices apply to re-pricing, what-if and suggestions alike; and importing it for analysis
starts no OpenTelemetry machinery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otelytics.analysis.cost import cost
from otelytics.analysis.dataset import open_dataset
from otelytics.llm import pricing
from tests.builders import llm_span, write_spans

_USER = {"version": "t1", "models": {"my-private-llm": {"input_mtok": 1.0, "output_mtok": 2.0}}}


@pytest.fixture
def user_prices():
    pricing.set_prices(_USER)
    yield
    pricing.set_prices(None)


def test_user_prices_reach_repricing_and_what_if(tmp_path: Path, user_prices) -> None:
    write_spans(tmp_path, [llm_span("my-private-llm", provider="acme", input_tokens=1000,
                                    output_tokens=300, cost_usd=None) for _ in range(3)]
                + [llm_span("gpt-4o-mini", input_tokens=500, output_tokens=50, cost_usd=0.1)])
    section = cost(open_dataset(tmp_path), what_if_model="my-private-llm")
    per_call = 1000 * 1.0 / 1e6 + 300 * 2.0 / 1e6  # independent: the rates above
    rep = {r["model"]: r for r in section.table("repriced").records()}
    assert rep["my-private-llm"]["current_price_usd"] == pytest.approx(3 * per_call)
    assert rep["my-private-llm"]["unpriceable_calls"] == 0
    wi = {r["model"]: r for r in section.table("what_if").records()}
    assert wi["gpt-4o-mini"]["what_if_cost_usd"] == pytest.approx(500 / 1e6 + 50 * 2 / 1e6)
    assert section.figures["what_if_cost_usd"] == pytest.approx(
        3 * per_call + 500 / 1e6 + 100 / 1e6)


def test_suggestion_prices_follow_user_prices(user_prices) -> None:
    from otelytics.analysis.suggest_rules import price

    assert price("my-private-llm", "acme", 1000, 300) == pytest.approx(0.0016)
    pricing.set_prices(None)
    assert price("my-private-llm", "acme", 1000, 300) is None


def test_pricing_for_analysis_starts_no_otel_machinery() -> None:
    code = """
import threading
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from otelytics.analysis import cost, suggest_rules
assert cost._price("gpt-4o-mini", "openai", 1000, 100, 0, 0) > 0
assert suggest_rules.price("gpt-4o-mini", "openai", 1000, 100) > 0
print(threading.active_count(), isinstance(trace.get_tracer_provider(), TracerProvider),
      type(metrics.get_meter_provider()).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    threads, sdk_tracer, meter = out.stdout.split()
    assert threads == "1" and sdk_tracer == "False" and "Proxy" in meter
