"""docs/schema.md is generated from exporter/schema.py and must be current."""

from __future__ import annotations

from otelytics.exporter import _docgen
from otelytics.exporter.schema import PROMOTED_SPAN_ATTRIBUTES, SCHEMAS
from tests.conftest import ROOT


def test_schema_doc_is_current():
    assert (ROOT / "docs/schema.md").read_text(encoding="utf-8") == _docgen.render(), (
        "docs/schema.md is stale: run python -m otelytics.exporter._docgen docs/schema.md")


def test_schema_doc_names_every_column_and_promoted_attribute():
    text = _docgen.render()
    for schema in SCHEMAS.values():
        for field in schema:
            assert f"| `{field.name}` |" in text
    for p in PROMOTED_SPAN_ATTRIBUTES:
        assert f"| `{p.attribute}` | `{p.column}` |" in text


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "schema.md"
    stale.write_text("old", encoding="utf-8")
    assert _docgen.main(["--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().out
    _docgen.main([str(stale)])
    assert _docgen.main(["--check", str(stale)]) == 0


def test_documented_reader_one_liners_agree(tmp_path):
    """The DuckDB, polars, pyarrow and pandas one-liners of docs/exporter.md, on one dataset."""
    import datetime as dt

    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as pads

    from otelytics.exporter import DatasetWriter
    from otelytics.exporter.schema import SPAN_SCHEMA
    from tests.exporter.conftest import span_rows

    root = tmp_path / "otelytics-data"
    with DatasetWriter(str(root), "spans") as w:
        w.append(span_rows(40, dt.datetime(2026, 11, 28, 23, 59, 50, tzinfo=dt.UTC),
                           step_us=500_000))
    doc = (ROOT / "docs/exporter.md").read_text(encoding="utf-8")
    assert "union_by_name=true" in doc and 'missing_columns="insert"' in doc
    g = f"{root}/spans/**/*.parquet"
    with duckdb.connect() as con:
        d = con.sql(f"select count(*), count(distinct dt) from read_parquet('{g}', "
                    "hive_partitioning=true, union_by_name=true)").fetchall()
    assert d == [(40, 2)]
    p = pl.scan_parquet(g, hive_partitioning=True, missing_columns="insert").collect()
    assert p.height == 40 and p["dt"].n_unique() == 2
    t = pads.dataset(f"{root}/spans", format="parquet", partitioning="hive",
                     schema=SPAN_SCHEMA).to_table().to_pandas()
    assert len(t) == 40
    assert len(pd.read_parquet(f"{root}/spans", engine="pyarrow")) == 40
