"""``otelytics.analysis`` as a notebook API: one import, lazy, figures equal to plain DuckDB."""

from __future__ import annotations

import subprocess
import sys

import duckdb

import otelytics.analysis as analysis
from tests.builders import llm_span, span, write_spans


def test_every_public_name_resolves_and_import_does_not_load_duckdb() -> None:
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None, name
    code = "import sys, otelytics.analysis; print('duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_notebook_flow_matches_duckdb(tmp_path) -> None:
    rows = [span("fit", duration_ms=5.0 + i) for i in range(10)] + [
        llm_span(cost_usd=0.002), span("fit", error_type="ValueError")]
    write_spans(tmp_path, rows)
    ds = analysis.open_dataset(tmp_path)
    report = analysis.build_report(ds, ["summary"])
    summary = report.sections[0]
    frame = ds.sql("SELECT name, count(*) AS n FROM spans GROUP BY 1 ORDER BY 1").to_pandas()
    want = duckdb.sql(f"SELECT name, count(*) FROM read_parquet('{tmp_path}/spans/*/*.parquet') "
                      "GROUP BY 1 ORDER BY 1").fetchall()
    assert list(frame.itertuples(index=False, name=None)) == want
    assert summary.name == "summary"
    assert summary.figures["executions"] == len(rows) and summary.figures["errors"] == 1
    assert summary.figures["cost_usd"] == 0.002
