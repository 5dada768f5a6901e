"""Which files a dataset reads: only ``dt=YYYY-MM-DD`` partitions, and never both a compacted
file and the sources it replaces (compaction's publish-then-delete window, or a crash in it)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from otelytics.analysis.dataset import open_dataset
from otelytics.exporter import tools
from tests.builders import BASE_TIME, span, write_spans


def _count(ds) -> int:
    return ds.sql("SELECT count(*) AS n FROM spans").column("n")[0].as_py()


def test_only_day_partitions_are_read_others_are_named(tmp_path: Path) -> None:
    files = write_spans(tmp_path, [span("fit") for _ in range(5)])
    for bad in ("dt=garbage", "dt=2026-13-01", "copy"):
        (tmp_path / "spans" / bad).mkdir()
        shutil.copy(files[0], tmp_path / "spans" / bad / files[0].name)
    ds = open_dataset(tmp_path)
    assert _count(ds) == 5 and ds.files["spans"] == [str(files[0])]
    reasons = {Path(p).parent.name: r for p, r in ds.skipped}
    assert set(reasons) == {"dt=garbage", "dt=2026-13-01", "copy"}
    assert all("dt=YYYY-MM-DD" in r for r in reasons.values())
    # independent: DuckDB's own glob over every folder would count the copies too
    raw = duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/spans/*/*.parquet')")
    assert raw.fetchall()[0][0] == 20


def test_compaction_crash_after_publish_never_double_counts(tmp_path: Path, monkeypatch) -> None:
    day0 = BASE_TIME - dt.timedelta(days=3)
    rows = [span("fit", start=day0 + dt.timedelta(seconds=i)) for i in range(40)]
    write_spans(tmp_path, rows, files_per_day=4)
    assert _count(open_dataset(tmp_path)) == 40

    def crash(path: str) -> None:
        raise RuntimeError("killed between publish and delete")

    monkeypatch.setattr(tools, "_after_publish", crash)
    with pytest.raises(RuntimeError):
        tools.compact(tmp_path, include_today=True)
    on_disk = sorted((tmp_path / "spans").glob("dt=*/*.parquet"))
    assert len(on_disk) == 5  # the merged file and its four sources, all published
    raw = duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/spans/*/*.parquet')")
    assert raw.fetchall()[0][0] == 80  # what a naive reader sees
    ds = open_dataset(tmp_path)
    assert _count(ds) == 40 and len(ds.files["spans"]) == 1
    assert len(ds.skipped) == 4 and all("already merged" in r for _, r in ds.skipped)
    ids = ds.sql("SELECT span_id FROM spans").column("span_id").to_pylist()
    assert sorted(ids) == sorted(r["span_id"] for r in rows)
