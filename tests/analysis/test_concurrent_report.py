"""The report's sections run concurrently on their own DuckDB cursors (report.WORKERS) and
share aggregates (engine.py): the output must not depend on either."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from otelytics.analysis import report as report_mod
from otelytics.analysis.dataset import open_dataset
from otelytics.analysis.render_json import render_json

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


def _json(root: Path, workers: int, sections: list[str] | None = None,
          group_by: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> dict:
    assert monkeypatch is not None
    monkeypatch.setattr(report_mod, "WORKERS", workers)
    with open_dataset(root) as ds:
        # one DuckDB thread per query: DuckDB's parallel float sums depend on the order its
        # threads finish (a cost of 0.075 vs 0.07500000000000001 reorders ties, and the
        # anomaly score of a near-zero MAD swings), run to run and with or without this
        # change; pinned here so that any difference comes from running sections together
        ds.con.execute("SET threads = 1")
        out = json.loads(render_json(report_mod.build_report(
            ds, sections, group_by=group_by, what_if_model="gpt-4o", now=NOW)))
    # a session's user is any_value(user_id): arbitrary when the test data gives a session
    # several users (run to run, not only between sequential and concurrent runs)
    for section, table in (("sessions", "top_sessions"), ("cost", "by_session")):
        for row in out["sections"].get(section, {}).get("tables", {}).get(table, {}).get(
                "rows", []):
            row.pop("user_id")
    return out


@pytest.mark.parametrize("group_by", [None, "user.id"])
def test_concurrent_report_equals_sequential(dataset_root: Path, group_by: str | None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    one = _json(dataset_root, 1, group_by=group_by, monkeypatch=monkeypatch)
    for workers in (2, 4, 9):
        assert _json(dataset_root, workers, group_by=group_by, monkeypatch=monkeypatch) == one


def test_progress_is_called_in_report_order(dataset_root: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_mod, "WORKERS", 3)
    calls: list[tuple[int, int, str]] = []
    with open_dataset(dataset_root) as ds:
        report_mod.build_report(ds, ["summary", "cost", "trends"],
                                progress=lambda i, n, name: calls.append((i, n, name)))
    assert calls == [(0, 3, "summary"), (1, 3, "cost"), (2, 3, "trends"), (3, 3, "done")]


def test_cost_by_session_is_the_same_with_or_without_the_sessions_section(
        dataset_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # with "sessions" in the report, cost reads by_session from the shared per-session table
    alone = _json(dataset_root, 1, ["cost"], monkeypatch=monkeypatch)
    both = _json(dataset_root, 2, ["sessions", "cost"], monkeypatch=monkeypatch)
    assert (both["sections"]["cost"]["tables"]["by_session"]
            == alone["sections"]["cost"]["tables"]["by_session"])
    # the total over sessions is summed in another order: equal up to float rounding
    got, want = both["sections"]["cost"]["figures"], alone["sections"]["cost"]["figures"]
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key] == (pytest.approx(value, rel=1e-12)
                            if isinstance(value, float) else value), key
    assert alone["sections"]["cost"]["tables"]["by_session"]["rows"]


def test_a_report_does_not_import_pandas(dataset_root: Path, tmp_path: Path) -> None:
    # pandas costs ~0.2 s of every report; only to_pandas() should load it
    import subprocess

    code = ("import sys; from otelytics.analysis.dataset import open_dataset; "
            "from otelytics.analysis.report import build_report; "
            "from otelytics.analysis.render_json import render_json; "
            f"render_json(build_report(open_dataset({str(dataset_root)!r}))); "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
