"""`otelytics validate`: says what is wrong and where; exit 0 clean, 1 problems, 2 usage."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from otelytics.exporter import tools
from otelytics.exporter.schema import METADATA_KEY, SPAN_SCHEMA
from tests.tools._data import (
    cli_inproc,
    cli_json,
    days_ago,
    run_cli,
    small_files,
    table,
    write_part,
)


def test_clean_dataset_counts_rows_per_partition(root: Path):
    small_files(root, "spans", days_ago(1), 3, 20)
    small_files(root, "spans", days_ago(2), 2, 7)
    small_files(root, "metrics", days_ago(1), 1, 5)
    (root / "_staging").mkdir()
    (root / "_staging" / "in-progress.parquet").write_bytes(b"PAR1 not yet closed")
    (root / "_spool").mkdir()  # the receiver's write-ahead spool: ours, not foreign
    (root / "_spool" / "segment-1.arrows").write_bytes(b"spool")
    code, rep = cli_json("validate", str(root))
    assert code == 0 and rep["ok"] and rep["problems"] == []
    assert rep["files"] == 6 and rep["rows"] == 60 + 14 + 5
    assert {(p["signal"], p["day"]): (p["files"], p["rows"]) for p in rep["partitions"]} == {
        ("spans", days_ago(1)): (3, 60), ("spans", days_ago(2)): (2, 14),
        ("metrics", days_ago(1)): (1, 5)}
    assert rep["staging_in_progress"] == 1  # young staging files are normal, not problems
    r = run_cli("validate", str(root))
    assert r.returncode == 0 and r.stdout.strip().endswith("ok: 6 files, 79 rows")


def _write_raw(path: Path, tbl: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(tbl, path)
    return path


def test_every_kind_of_problem_is_named_with_its_path(root: Path):
    day = days_ago(3)
    part = root / "spans" / f"dt={day}"
    good = small_files(root, "spans", day, 2, 10)
    truncated = Path(write_part(root, "spans", day, table("spans", 50, day)))
    truncated.write_bytes(truncated.read_bytes()[:-100])
    foreign = _write_raw(part / "part-foreign.parquet", pa.table({"x": [1, 2, 3]}))
    v1 = SPAN_SCHEMA.metadata
    wrong = table("spans", 5, day)
    wrong = wrong.set_column(wrong.schema.get_field_index("duration_us"),
                             pa.field("duration_us", pa.string()),
                             pa.array(["1"] * 5)).replace_schema_metadata(v1)
    wrong_type = _write_raw(part / "part-wrongtype.parquet", wrong)
    no_cost = table("spans", 5, day).drop_columns(["cost_usd"]).replace_schema_metadata(v1)
    missing = _write_raw(part / "part-missing.parquet", no_cost)
    future = Path(write_part(root, "spans", day, table("spans", 5, day),
                             name="part-future.parquet",
                             metadata={**v1, METADATA_KEY: b"999"}))
    outside = Path(write_part(root, "spans", day, table("spans", 8, days_ago(5)),
                              name="part-outside.parquet"))
    in_logs = Path(write_part(root, "logs", day, table("spans", 3, day), name="part-x.parquet"))
    (part / "part-y.parquet.tmp").write_bytes(b"debris")
    (root / "spans" / "2026-01-01").mkdir()
    (root / "notes.txt").write_text("hello")
    staging = root / "_staging" / "part-old.parquet"
    staging.parent.mkdir()
    staging.write_bytes(b"PAR1")
    old = time.time() - 3 * 86400
    os.utime(staging, (old, old))

    code, rep = cli_json("validate", str(root))
    assert code == 1 and not rep["ok"]
    found = {(p["kind"], p["path"]) for p in rep["problems"]}
    rel = lambda p: str(Path(p).relative_to(root))  # noqa: E731
    assert found == {
        ("unreadable", rel(truncated)),
        ("foreign_file", rel(foreign)),
        ("wrong_type", rel(wrong_type)),
        ("missing_column", rel(missing)),
        ("unknown_schema_version", rel(future)),
        ("rows_outside_partition", rel(outside)),
        ("wrong_signal", rel(in_logs)),
        ("foreign_file", f"spans/dt={day}/part-y.parquet.tmp"),
        ("foreign_file", "spans/2026-01-01"),
        ("foreign_file", "notes.txt"),
        ("orphaned_staging", "_staging/part-old.parquet"),
    }
    msg = {p["path"]: p["message"] for p in rep["problems"]}
    assert "duration_us" in msg[rel(wrong_type)] and "int64" in msg[rel(wrong_type)]
    assert "'cost_usd' is missing" in msg[rel(missing)]
    assert "999" in msg[rel(future)]
    assert "8 of 8 rows" in msg[rel(outside)]
    # Usable files still count their rows: the two good ones and the out-of-day one.
    [stats] = [p for p in rep["partitions"] if p["signal"] == "spans"]
    assert stats["rows"] == 2 * 10 + 8
    assert all(os.path.exists(p) for p in good)

    r = run_cli("validate", str(root))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"unreadable: {rel(truncated)}:" in r.stdout


def test_corrupt_data_page_behind_a_good_footer_is_found_by_the_full_read(root: Path):
    day = days_ago(1)
    path = Path(write_part(root, "spans", day, table("spans", 3000, day)))
    data = bytearray(path.read_bytes())
    for i in range(200, 4000, 7):  # inside the first column chunks; the footer is intact
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    assert pq.ParquetFile(path).metadata.num_rows == 3000  # footer still reads
    rep = tools.validate(root)
    assert [(p.kind, p.path) for p in rep.problems] == [
        ("unreadable", str(path.relative_to(root)))]
    assert "full read failed" in rep.problems[0].message


def test_usage_errors_exit_2_with_one_line(tmp_path: Path, root: Path):
    r = cli_inproc("validate", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no dataset at" in r.stderr and "Traceback" not in r.stderr
    f = tmp_path / "file"
    f.write_text("x")
    r = cli_inproc("validate", str(f))
    assert r.returncode == 2 and "is a file" in r.stderr
    r = cli_inproc("validate", str(root), "--staging-older-than", "soon")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_empty_root_is_clean(root: Path):
    rep = tools.validate(root)
    assert rep.ok and rep.files == 0 and rep.partitions == []


def test_overlapping_compactions_are_reported(root: Path):
    """Two merged files naming the same source: rows counted twice, no safe automatic fix."""
    import json

    from otelytics.exporter.schema import SPAN_SCHEMA

    day = days_ago(2)
    sources = json.dumps(["part-a.parquet"]).encode()
    meta = {**SPAN_SCHEMA.metadata, tools.COMPACTED_FROM_KEY: sources}
    first = write_part(root, "spans", day, table("spans", 4, day), name="part-1.parquet",
                       metadata=meta)
    second = write_part(root, "spans", day, table("spans", 4, day), name="part-2.parquet",
                        metadata=meta)
    rep = tools.validate(root, repair=True)
    assert [(p.kind, p.path) for p in rep.problems] == [
        ("overlapping_compaction", str(Path(second).relative_to(root)))]
    assert "part-1.parquet also holds the rows of part-a.parquet" in rep.problems[0].message
    assert os.path.exists(first) and os.path.exists(second) and rep.repaired == []
