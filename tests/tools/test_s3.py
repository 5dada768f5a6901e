"""compact, validate and prune on an ``s3://`` root (moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import json

import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from otelytics.exporter import tools
from tests.conftest import s3_uri
from tests.tools._data import days_ago, run_cli, small_files, table, write_part


def _rows(fs: pafs.FileSystem, base: str, signal: str) -> list[dict]:
    files = [i.path for i in fs.get_file_info(pafs.FileSelector(f"{base}/{signal}",
                                                                recursive=True))
             if i.path.endswith(".parquet")]
    t = pads.dataset(files, filesystem=fs, format="parquet").to_table()
    return sorted(t.to_pylist(), key=lambda r: r["span_id"])


def test_compact_validate_prune_on_s3(s3_server):
    uri = s3_uri(s3_server, "tools-e2e")
    fs, base = pafs.FileSystem.from_uri(uri)
    day = days_ago(2)
    small_files(base, "spans", day, 6, 50, fs=fs)
    small_files(base, "spans", days_ago(200), 2, 5, fs=fs)
    before = _rows(fs, base, "spans")

    res = tools.compact(uri)
    by_day = {p.day: p for p in res.partitions}
    assert by_day[day].files_before == 6 and by_day[day].files_after == 1
    assert _rows(fs, base, "spans") == before
    [merged] = [i for i in fs.get_file_info(pafs.FileSelector(f"{base}/spans/dt={day}"))]
    with fs.open_input_file(merged.path) as f:
        assert len(json.loads(pq.ParquetFile(f).metadata.metadata[tools.COMPACTED_FROM_KEY])) == 6
    # Published with one PUT: nothing left in staging.
    staging = fs.get_file_info(pafs.FileSelector(f"{base}/_staging", allow_not_found=True))
    assert [i for i in staging if i.type == pafs.FileType.File] == []

    bad = write_part(base, "spans", day, table("spans", 5, day), fs=fs, metadata={})
    rep = tools.validate(uri)
    assert [(p.kind, p.path) for p in rep.problems] == [
        ("foreign_file", bad[len(base) + 1:])]
    assert sum(p.rows for p in rep.partitions) == 6 * 50 + 2 * 5

    r = run_cli("prune", uri, "--older-than", "90d", env=s3_server["env"])
    assert r.returncode == 0, r.stderr
    assert "removed 1 partition(s)" in r.stdout
    days = [i.base_name for i in fs.get_file_info(pafs.FileSelector(f"{base}/spans"))]
    assert days == [f"dt={day}"]


def test_validate_cli_on_s3_reports_truncated_object(s3_server):
    uri = s3_uri(s3_server, "tools-validate")
    fs, base = pafs.FileSystem.from_uri(uri)
    day = days_ago(1)
    path = write_part(base, "logs", day, table("logs", 10, day), fs=fs)
    with fs.open_input_file(path) as f:
        data = f.read()
    with fs.open_output_stream(path) as out:
        out.write(data[: len(data) // 2])
    r = run_cli("validate", uri, "--json", env=s3_server["env"])
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert [(p["kind"], p["path"]) for p in rep["problems"]] == [
        ("unreadable", path[len(base) + 1:])]
