"""`otelytics prune`: retention by whole partitions, staging debris by age, counted."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import duckdb

from otelytics.exporter import tools
from tests.tools._data import cli_inproc, cli_json, days_ago, run_cli, small_files


def _days(root: Path, signal: str) -> list[str]:
    return sorted(p.name[3:] for p in (root / signal).glob("dt=*"))


def _dataset(root: Path) -> None:
    for n in (120, 91, 90, 89, 0):
        small_files(root, "spans", days_ago(n), 2, 5)
    small_files(root, "logs", days_ago(100), 1, 5)
    staging = root / "_staging"
    staging.mkdir()
    for name, age_h in (("old.parquet", 30), ("fresh.parquet", 1)):
        p = staging / name
        p.write_bytes(b"debris")
        t = time.time() - age_h * 3600
        os.utime(p, (t, t))


def test_dry_run_lists_and_deletes_nothing(root: Path):
    _dataset(root)
    code, out = cli_json("prune", str(root), "--older-than", "90d", "--dry-run")
    assert code == 0 and out["dry_run"]
    assert [(p["signal"], p["day"], p["files"]) for p in out["partitions"]] == [
        ("spans", days_ago(120), 2), ("spans", days_ago(91), 2), ("logs", days_ago(100), 1)]
    assert out["staging_files"] == ["_staging/old.parquet"]
    assert len(_days(root, "spans")) == 5 and (root / "_staging" / "old.parquet").exists()


def test_prune_removes_whole_old_partitions_and_stale_staging(root: Path):
    _dataset(root)
    r = run_cli("prune", str(root), "--older-than", "90d")
    assert r.returncode == 0, r.stderr
    assert "removed 3 partition(s) and 1 staging file(s)" in r.stdout
    # The partition of exactly 90 days ago still holds data younger than 90 days: kept.
    assert _days(root, "spans") == sorted([days_ago(90), days_ago(89), days_ago(0)])
    assert _days(root, "logs") == []
    assert sorted(p.name for p in (root / "_staging").iterdir()) == ["fresh.parquet"]
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{root}/spans/**/*.parquet')").fetchall()
    assert n == [(3 * 2 * 5,)]
    assert tools.validate(root).ok


def test_partition_boundary_is_exact():
    """A day goes when its last microsecond is older than the cutoff, not before."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        small_files(d, "spans", "2026-01-10", 1, 3)
        at = dt.datetime(2026, 1, 11, tzinfo=dt.UTC) + dt.timedelta(days=30)
        res = tools.prune(d, older_than=dt.timedelta(days=30), now=at - dt.timedelta(seconds=1))
        assert res.partitions == []
        res = tools.prune(d, older_than=dt.timedelta(days=30), now=at)
        assert [p["day"] for p in res.partitions] == ["2026-01-10"]


def test_usage_errors(root: Path, tmp_path: Path):
    r = cli_inproc("prune", str(root))
    assert r.returncode == 2 and "--older-than" in r.stderr
    r = cli_inproc("prune", str(root), "--older-than", "ninety days")
    assert r.returncode == 2 and "invalid duration" in r.stderr and "Traceback" not in r.stderr
    r = cli_inproc("prune", str(tmp_path / "nope"), "--older-than", "90d")
    assert r.returncode == 2 and "no dataset at" in r.stderr
