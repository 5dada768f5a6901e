"""Unpriced LLM calls are never shown as $0: NULL in the figures, "-" on screen, null in JSON;
an unknown what-if model is a one-line usage error naming it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from otelytics.analysis.dataset import open_dataset
from otelytics.analysis.render_text import render_markdown
from otelytics.analysis.report import build_report
from tests.builders import llm_span, span, write_spans

_MAIN = "import sys; from otelytics.analysis.cli import main; sys.exit(main(sys.argv[1:]))"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _MAIN, *args], capture_output=True,
                          text=True, timeout=120)


def _unpriced_root(tmp_path: Path) -> Path:
    rows = [span("fit", session_id="s1")] + [
        llm_span("my-private-llm", provider="acme", cost_usd=None, session_id="s1")
        for _ in range(3)]
    write_spans(tmp_path, rows)
    return tmp_path


def test_nothing_priced_is_null_not_zero(tmp_path: Path) -> None:
    ds = open_dataset(_unpriced_root(tmp_path))
    report = build_report(ds, ["summary", "usage", "cost", "trends", "sessions"])
    summary = report.section("summary").figures
    cost = report.section("cost")
    assert summary["cost_usd"] is None and summary["unpriced_calls"] == 3
    assert cost.figures["cost_usd"] is None and cost.figures["cost_per_call_usd"] is None
    assert cost.table("by_model").records()[0]["cost_usd"] is None
    assert report.section("usage").table("by_model").records()[0]["cost_usd"] is None
    assert report.section("summary").table("by_service").records()[0]["cost_usd"] is None
    sessions = report.section("sessions")
    assert sessions.table("top_sessions").records()[0]["cost_usd"] is None
    assert sessions.figures["cost_per_session"] is None
    assert report.section("trends").table("daily").records()[0]["cost_usd"] is None
    md = render_markdown(report)
    assert not re.search(r"\$0(?:\.0+)?(?=\s|\||$)", md, re.M), md  # no "$0" figure
    # independent check: DuckDB over the raw files says the same
    import duckdb

    raw = duckdb.sql(f"SELECT sum(cost_usd) FROM read_parquet('{tmp_path}/spans/*/*.parquet')")
    assert raw.fetchall()[0][0] is None


def test_partly_priced_sums_only_the_priced_calls(tmp_path: Path) -> None:
    rows = [llm_span("gpt-4o-mini", cost_usd=0.25), llm_span("gpt-4o-mini", cost_usd=None)]
    write_spans(tmp_path, rows)
    f = build_report(open_dataset(tmp_path), ["cost"]).section("cost").figures
    assert f["cost_usd"] == 0.25 and f["unpriced_calls"] == 1
    assert f["cost_per_call_usd"] == 0.25


def test_json_report_has_null_cost(tmp_path: Path) -> None:
    r = _cli("report", str(_unpriced_root(tmp_path)), "--section", "summary,cost",
             "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["sections"]["summary"]["figures"]["cost_usd"] is None
    assert doc["sections"]["cost"]["figures"]["cost_usd"] is None


def test_unknown_what_if_model_is_a_usage_error(tmp_path: Path) -> None:
    root = _unpriced_root(tmp_path)
    r = _cli("report", str(root), "--section", "cost", "--what-if-model", "nonexistent-model")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "nonexistent-model" in lines[0] and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_what_if_with_nothing_priceable_is_null(tmp_path: Path) -> None:
    from otelytics.analysis.cost import cost

    root = _unpriced_root(tmp_path)
    section = cost(open_dataset(root), what_if_model="nonexistent-model")
    assert section.figures["what_if_cost_usd"] is None
    assert all(r["what_if_cost_usd"] is None for r in section.table("what_if").records())
