"""A ground-truth dataset for the report tests: known rows, written once per test module."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.builders import llm_span, span, write_spans

DAY0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
STACK = ('Traceback (most recent call last):\n  File "/srv/app/{v}/steps.py", line {n}, in '
         'score\n    raise ValueError(x)\nValueError: bad {n}')


def _exception(t: dt.datetime, n: int, kind: str = "ValueError") -> list[dict[str, Any]]:
    return [{"time": t, "name": "exception", "attributes": [
        ("exception.type", kind), ("exception.message", f"bad {n}"),
        ("exception.stacktrace", STACK.format(v=f"v{n % 3}", n=n))]}]


def build_rows() -> list[dict[str, Any]]:
    """Ten days of function spans, LLM calls, workflow runs and sessions; a spike on day 7."""
    rows: list[dict[str, Any]] = []
    for d in range(10):
        base = DAY0 + dt.timedelta(days=d)
        volume = 40 + (400 if d == 7 else 0)
        for i in range(volume):
            t = base + dt.timedelta(seconds=i)
            err = "ValueError" if i % 10 == 3 else None
            rows.append(span("fit", start=t, duration_ms=5 + (i * 7) % 23,
                             error_type=err, events=_exception(t, i) if err else None,
                             estimator_data_length=10 ** (i % 4), cpu_time_s=0.001 * (i % 5),
                             attributes={"otelytics.estimator.param.alpha": i % 3,
                                         "team": "a" if i % 2 else "b"}))
            if i % 2 == 0:
                model = "gpt-4o-mini" if i % 4 == 0 else "claude-3-5-haiku-latest"
                provider = "openai" if i % 4 == 0 else "anthropic"
                rows.append(llm_span(model, provider=provider, start=t,
                                     duration_ms=200 + i % 50, input_tokens=100 + i,
                                     output_tokens=20 + i % 7, cache_read_tokens=i % 3 * 10,
                                     cost_usd=None if i % 6 == 0 else 0.001 * (1 + i % 3),
                                     session_id=f"s{d}-{i % 5}", user_id=f"u{i % 3}",
                                     gen_ai_time_to_first_chunk_s=0.05 + (i % 10) / 100))
        for r in range(6):  # workflow runs: load > score (> report unless it stopped)
            t = base + dt.timedelta(hours=2, minutes=r)
            fail = r == 5
            stop_early = r >= 4
            w = span("pipeline", start=t, duration_ms=300 + r, span_type="workflow",
                     workflow_name="pipeline", error_type="RuntimeError" if fail else None)
            rows.append(w)
            steps = ["load", "score"] + ([] if stop_early else ["report"])
            for k, step in enumerate(steps):
                rows.append(span(step, trace_id=w["trace_id"], parent_span_id=w["span_id"],
                                 start=t + dt.timedelta(milliseconds=10 * k + 1),
                                 workflow_name="pipeline", workflow_step=step,
                                 error_type="RuntimeError" if fail and step == "score" else None))
        s = span("session chat", start=base + dt.timedelta(hours=3), duration_ms=5000,
                 span_type="session", session_id=f"s{d}-0",
                 error_type="Timeout" if d == 2 else None)
        rows.append(s)
    return rows


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    write_spans(root, build_rows(), files_per_day=2)
    return root
