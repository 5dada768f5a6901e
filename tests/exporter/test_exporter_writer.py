"""DatasetWriter and write_file: layout, rolling, atomic publication, failures, fork, S3."""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import time

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from otelytics.exporter import _selfmetrics
from otelytics.exporter.schema import METADATA_KEY, SCHEMA_VERSION, SPAN_SCHEMA
from otelytics.exporter.writer import (
    BufferFull,
    DatasetWriter,
    WriterClosed,
    conform,
    write_file,
)
from tests.conftest import s3_uri
from tests.exporter.conftest import DAY1, duck, span_rows


def _published(root) -> list[str]:
    return sorted(glob.glob(os.path.join(str(root), "spans", "dt=*", "*.parquet")))


def test_rows_split_by_utc_day_and_read_back_by_three_readers(tmp_path):
    w = DatasetWriter(str(tmp_path), "spans")
    # 120 spans one second apart from 23:59:00: 60 on the 28th, 60 on the 29th
    w.append(span_rows(120, DAY1, step_us=1_000_000))
    paths = w.flush()
    w.close()
    assert sorted(paths) == _published(tmp_path)
    assert {os.path.basename(os.path.dirname(p)) for p in paths} == {
        "dt=2026-11-28", "dt=2026-11-29"}
    glob_expr = f"{tmp_path}/spans/**/*.parquet"
    per_day = duck(
        f"select dt, count(*) from read_parquet('{glob_expr}', hive_partitioning=true) "
        "group by dt order by dt")
    assert [(str(d), n) for d, n in per_day] == [("2026-11-28", 60), ("2026-11-29", 60)]
    df = pl.scan_parquet(glob_expr).select(pl.col("span_id")).collect()
    assert sorted(df["span_id"].to_list()) == [f"{i:016x}" for i in range(120)]
    t = pads.dataset(f"{tmp_path}/spans", format="parquet", partitioning="hive",
                     schema=SPAN_SCHEMA).to_table()
    assert t.num_rows == 120
    assert not os.listdir(tmp_path / "_staging")


def test_file_carries_schema_version_zstd_and_dictionary_only_on_low_cardinality(tmp_path):
    path = write_file(str(tmp_path), "spans", span_rows(10))
    f = pq.ParquetFile(path)
    assert f.schema_arrow.metadata[METADATA_KEY] == str(SCHEMA_VERSION).encode()
    assert f.schema_arrow.names == SPAN_SCHEMA.names
    rg = f.metadata.row_group(0)
    cols = {rg.column(i).path_in_schema: rg.column(i) for i in range(rg.num_columns)}
    assert all(c.compression == "ZSTD" for c in cols.values())
    assert any("DICT" in e for e in cols["name"].encodings)
    assert not any("DICT" in e for e in cols["span_id"].encodings)
    assert path.startswith(str(tmp_path / "spans" / "dt=2026-11-28"))


def test_write_file_refuses_rows_of_two_days(tmp_path):
    with pytest.raises(ValueError, match="2 days"):
        write_file(str(tmp_path), "spans", span_rows(120, DAY1, step_us=1_000_000))
    assert _published(tmp_path) == []


def test_large_row_groups_and_roll_on_row_count(tmp_path):
    w = DatasetWriter(str(tmp_path), "spans", max_rows=1000, row_group_rows=400)
    for i in range(25):  # 25 batches of 100: small batches are merged into large row groups
        w.append(span_rows(100, offset=i * 100))
    w.close()
    files = _published(tmp_path)
    rows = [pq.ParquetFile(p).metadata.num_rows for p in files]
    assert sum(rows) == 2500 and max(rows) <= 1000 and len(files) >= 3
    groups = [pq.ParquetFile(p).metadata.row_group(i).num_rows
              for p in files for i in range(pq.ParquetFile(p).metadata.num_row_groups)]
    assert max(groups) == 400
    assert w.stats.rows_published == 2500 and w.stats.files_published == len(files)


def test_roll_on_age_without_flush(tmp_path):
    w = DatasetWriter(str(tmp_path), "spans", max_age_s=0.2)
    w.append(span_rows(7))
    deadline = 100
    while not _published(tmp_path) and deadline:
        time.sleep(0.05)
        deadline -= 1
    assert pq.read_table(_published(tmp_path)[0]).num_rows == 7
    w.close()


def test_conform_orders_fills_and_rejects():
    t = span_rows(3).select(["span_id", "trace_id", "name", "start_time"])
    out = conform(t, SPAN_SCHEMA)
    assert out.schema.names == SPAN_SCHEMA.names and out.column("kind").null_count == 3
    with pytest.raises(ValueError, match="not in the schema"):
        conform(t.append_column("nope", pa.array([1, 2, 3])), SPAN_SCHEMA)
    with pytest.raises(ValueError, match="duration_us"):
        conform(pa.table({"duration_us": ["x", "y"]}), SPAN_SCHEMA)


def test_buffer_full_and_closed(tmp_path):
    w = DatasetWriter(str(tmp_path), "spans", max_buffer_bytes=1)
    w.append(span_rows(5))  # an empty buffer always accepts one table
    with pytest.raises(BufferFull):
        w.append(span_rows(5))
    w.close()
    with pytest.raises(WriterClosed):
        w.append(span_rows(1))
    assert sum(pq.read_table(p).num_rows for p in _published(tmp_path)) == 5


def test_unwritable_root_retries_then_counts_drop(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the root's parent should be")
    root = blocker / "root"  # not creatable, even by root: NotADirectoryError
    before = _selfmetrics.drop_counts().get(("spans", "shutdown"), 0)
    w = DatasetWriter(str(root), "spans")
    w.append(span_rows(9))
    assert w.flush() == []
    assert w.stats.rows_buffered == 9  # kept for a retry
    blocker.unlink()
    w.append(span_rows(1, offset=9))
    paths = w.flush()  # the disk is back: everything is written
    assert sum(pq.read_table(p).num_rows for p in paths) == 10
    shutil.rmtree(blocker)
    blocker.write_text("broken again")
    w.append(span_rows(4))
    w.close()
    assert w.stats.rows_dropped == 4
    assert _selfmetrics.drop_counts()[("spans", "shutdown")] - before == 4


def test_fork_child_starts_empty_and_parent_file_is_intact(tmp_path):
    w = DatasetWriter(str(tmp_path), "spans", row_group_rows=10)
    w.append(span_rows(30))
    w.flush()
    w.append(span_rows(25, offset=100))  # >= row_group_rows: the writer thread starts a file
    for _ in range(200):  # the parent now holds an open staging file with row groups in it
        if os.listdir(tmp_path / "_staging"):
            break
        time.sleep(0.01)
    assert os.listdir(tmp_path / "_staging")
    pid = os.fork()
    if pid == 0:  # child: the parent's rows are not ours; write our own and exit
        code = 0
        try:
            if w.stats.rows_buffered != 0:
                code = 3
            w.append(span_rows(3, offset=1000))
            w.close()
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    w.close()
    ids = duck(f"select span_id from read_parquet('{tmp_path}/spans/**/*.parquet')")
    got = sorted(int(i, 16) for (i,) in ids)
    assert got == list(range(30)) + list(range(100, 125)) + [1000, 1001, 1002]


def test_s3_root_publishes_whole_objects(s3_server):
    uri = s3_uri(s3_server, "writer-bucket", "ds")
    w = DatasetWriter(uri, "spans")
    w.append(span_rows(50))
    w.append(span_rows(20, dt.datetime(2026, 11, 30, tzinfo=dt.UTC), offset=50))
    paths = w.flush()
    w.close()
    assert len(paths) == 2
    assert all(p.startswith("writer-bucket/ds/spans/dt=2026-11-") for p in paths)
    import pyarrow.fs as pafs

    fs, base = pafs.FileSystem.from_uri(uri)
    t = pads.dataset(f"{base}/spans", filesystem=fs, format="parquet", partitioning="hive",
                     schema=SPAN_SCHEMA).to_table()
    assert t.num_rows == 70
    path = write_file(uri, "spans", span_rows(3, offset=500))
    assert pq.read_table(path, filesystem=fs).column("span_id").to_pylist() == [
        f"{500 + i:016x}" for i in range(3)]


def test_orphaned_staging_files_are_swept_fresh_ones_kept(tmp_path):
    staging = tmp_path / "_staging"
    staging.mkdir()
    old, fresh = staging / "spans-old.parquet", staging / "spans-fresh.parquet"
    old.write_bytes(b"PAR1 half written")
    fresh.write_bytes(b"PAR1 being written by a live process")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (day_ago, day_ago))
    w = DatasetWriter(str(tmp_path), "spans")
    w.append(span_rows(1))  # starts the writer thread, which sweeps first
    w.close()
    assert not old.exists() and fresh.exists()
