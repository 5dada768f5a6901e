"""The README's main job, end to end: the examples write Parquet, report and suggest read it.

``make run`` runs ``examples/quickstart.py`` (decorators + configure) and
``opentelemetry-instrument python examples/llm_app.py`` (no otelytics code) into one dataset,
then ``otelytics report`` and ``otelytics suggest``. The figures the report prints are checked
against DuckDB SQL over the same files, and the quickstart's in-process session summaries
against the rows on disk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def main_job(tmp_path_factory) -> tuple[Path, str]:
    from tests.conftest import run_python

    data = tmp_path_factory.mktemp("main-job") / "data"
    env = {"OTELYTICS_DATA_DIR": str(data)}
    quick = run_python(str(ROOT / "examples" / "quickstart.py"), env=env, timeout=120)
    assert quick.returncode == 0, quick.stderr
    llm = run_python(str(ROOT / "examples" / "llm_app.py"), timeout=180,
                     env={**env, "OTEL_SERVICE_NAME": "llm-app"},
                     prefix=[str(BIN / "opentelemetry-instrument")])
    assert llm.returncode == 0, llm.stderr
    return data, quick.stdout


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "otelytics"), *args], capture_output=True, text=True,
                          timeout=120)


def test_quickstart_session_summaries_match_the_rows_on_disk(main_job) -> None:
    data, stdout = main_job
    printed = {}
    for line in stdout.splitlines()[1:]:
        user, calls, errors, *_ = line.split()
        printed[user] = (int(calls), int(errors))
    rows = duckdb.sql(f"""
        SELECT user_id, count(*),
               count(*) FILTER (WHERE status_code = 'ERROR')
        FROM read_parquet('{data}/spans/*/*.parquet') WHERE service_name = 'quickstart'
          AND span_type IS DISTINCT FROM 'session'
        GROUP BY 1""").fetchall()
    assert {u: (c, e) for u, c, e in rows} == printed
    assert set(printed) == {"ada", "grace", "linus"}


def test_report_figures_equal_duckdb_over_the_same_files(main_job) -> None:
    data, _ = main_job
    r = _cli("report", str(data), "--format", "json")
    assert r.returncode == 0, r.stderr
    fig = json.loads(r.stdout)["sections"]["summary"]["figures"]
    want = duckdb.sql(f"""
        SELECT count(*), count(*) FILTER (WHERE status_code = 'ERROR'),
               quantile_cont(duration_us, 0.95) / 1000.0,
               count(gen_ai_operation_name), sum(gen_ai_input_tokens),
               sum(gen_ai_output_tokens), sum(cost_usd), count(DISTINCT session_id)
        FROM read_parquet('{data}/spans/*/*.parquet')""").fetchall()[0]
    got = (fig["executions"], fig["errors"], fig["duration_p95_ms"], fig["llm_calls"],
           fig["input_tokens"], fig["output_tokens"], fig["cost_usd"], fig["sessions"])
    assert got[:2] == want[:2] and got[3:6] == want[3:6] and got[7] == want[7]
    assert got[2] == pytest.approx(want[2], rel=1e-9)
    assert got[6] == pytest.approx(want[6], rel=1e-9) and got[6] > 0
    assert fig["llm_calls"] >= 5 and fig["unpriced_calls"] == 0


def test_suggest_runs_on_the_main_job_and_every_suggestion_has_evidence(main_job) -> None:
    data, _ = main_job
    r = _cli("suggest", str(data), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema_version"] >= 1
    for s in doc["suggestions"]:
        assert s["fingerprint"] and s["category"] and s["evidence"]
    # llm_app's workload: the FAQ asked 5 times, 3 Anthropic answers cut at max_tokens
    by_rule = {s["rule"]: s for s in doc["suggestions"]}
    assert by_rule["repeated-calls"]["evidence"]["calls"] == 5
    assert by_rule["max-tokens-cutoff"]["evidence"]["truncated"] == 3


def test_every_example_runs(python_run) -> None:
    """Each example exits 0 on its own (quickstart and llm_app above; the rest here)."""
    for name in ("zero_code_app.py",):
        proc = python_run(str(ROOT / "examples" / name), timeout=120,
                          env={"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
        assert proc.returncode == 0, (name, proc.stderr)
    listed = {p.name for p in (ROOT / "examples").glob("*.py")}
    assert listed == {"quickstart.py", "llm_app.py", "zero_code_app.py", "inventory.py"}
