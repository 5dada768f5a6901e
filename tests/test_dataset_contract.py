"""The dataset contract shared by writers and readers: schema rules and open_dataset basics."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from otelytics.analysis.dataset import DatasetError, Filters, Window, open_dataset
from otelytics.exporter import layout, schema
from tests.conftest import s3_uri


def test_every_schema_is_versioned_and_snake_case() -> None:
    for signal, sch in schema.SCHEMAS.items():
        assert sch.metadata[schema.METADATA_KEY] == str(schema.SCHEMA_VERSION).encode()
        for f in sch:
            assert f.name == f.name.lower() and " " not in f.name and "." not in f.name, f.name
            assert f.metadata[b"doc"], f"{signal}.{f.name} has no doc"
    assert len({p.column for p in schema.PROMOTED_SPAN_ATTRIBUTES}) == len(
        schema.PROMOTED_SPAN_ATTRIBUTES)


def _write(root, day: str, rows: list[dict], drop: tuple[str, ...] = ()) -> None:
    part = root / layout.partition("spans", day)
    part.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema.SPAN_SCHEMA).drop_columns(list(drop))
    pq.write_table(table, part / layout.file_name(0))


def _span(name: str, when: dt.datetime, **extra) -> dict:
    return {"trace_id": "0" * 32, "span_id": "1" * 16, "name": name, "start_time": when,
            "duration_us": 10, **extra}


def test_open_dataset_prunes_by_day_filters_and_fills_missing_columns(tmp_path) -> None:
    d1, d2 = dt.datetime(2026, 11, 1, 5, tzinfo=dt.UTC), dt.datetime(2026, 11, 3, 5, tzinfo=dt.UTC)
    _write(tmp_path, "2026-11-01", [_span("a", d1, service_name="s1")], drop=("links", "cost_usd"))
    _write(tmp_path, "2026-11-03", [_span("b", d2, service_name="s2",
                                          attributes=[("k", "v")])])
    ds = open_dataset(tmp_path, window=Window.of(start="2026-11-02"))
    assert len(ds.files["spans"]) == 1
    assert ds.sql("SELECT name FROM spans").column("name").to_pylist() == ["b"]
    every = open_dataset(tmp_path)
    assert every.sql("SELECT count(*) AS n, count(cost_usd) AS c FROM spans").to_pylist() == [
        {"n": 2, "c": 0}]
    assert open_dataset(tmp_path, filters=Filters.parse(["k=v"])).sql(
        "SELECT name FROM spans").column("name").to_pylist() == ["b"]
    assert open_dataset(tmp_path, filters=Filters(service="s1")).sql(
        "SELECT name FROM spans").column("name").to_pylist() == ["a"]
    assert every.sql("SELECT count(*) AS n FROM metrics").to_pylist() == [{"n": 0}]


def test_bad_input_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="invalid duration"):
        Window.of(since="3 fortnights")
    with pytest.raises(ValueError, match="key=value"):
        Filters.parse(["novalue"])


def test_open_dataset_on_object_store(s3_server) -> None:
    import pyarrow.fs as pafs

    uri = s3_uri(s3_server, "contract")
    fs, base = pafs.FileSystem.from_uri(uri)
    table = pa.Table.from_pylist([_span("remote", dt.datetime(2026, 11, 2, tzinfo=dt.UTC))],
                                 schema=schema.SPAN_SCHEMA)
    path = f"{base}/{layout.partition('spans', '2026-11-02')}/{layout.file_name(0)}"
    fs.create_dir(path.rsplit("/", 1)[0])
    with fs.open_output_stream(path) as out:
        pq.write_table(table, out)
    ds = open_dataset(uri)
    assert ds.sql("SELECT name FROM spans").column("name").to_pylist() == ["remote"]
