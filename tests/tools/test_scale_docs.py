"""docs/scale.md holds Spark and Trino DDL generated from ``exporter.schema``: it cannot drift.

Regenerate after a schema change with ``python -m tests.tools.test_scale_docs docs/scale.md``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyarrow as pa

from otelytics.exporter.schema import SCHEMAS

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale.md"
_BLOCK = re.compile(r"(<!-- ddl:(spark|trino):(\w+) -->\n)(.*?)(<!-- /ddl -->)", re.S)


def spark_type(t: pa.DataType) -> str:
    """Spark SQL type that reads the Parquet column ``t`` as written."""
    if pa.types.is_dictionary(t):
        return spark_type(t.value_type)
    if pa.types.is_string(t):
        return "STRING"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_int32(t):
        return "INT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_map(t):
        return f"MAP<{spark_type(t.key_type)}, {spark_type(t.item_type)}>"
    if pa.types.is_list(t):
        return f"ARRAY<{spark_type(t.value_type)}>"
    if pa.types.is_struct(t):
        return "STRUCT<" + ", ".join(f"`{f.name}`: {spark_type(f.type)}" for f in t) + ">"
    raise TypeError(f"no Spark type for {t}")


def trino_type(t: pa.DataType) -> str:
    """Trino (Hive connector) type that reads the Parquet column ``t`` as written."""
    if pa.types.is_dictionary(t):
        return trino_type(t.value_type)
    if pa.types.is_string(t):
        return "varchar"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_int32(t):
        return "integer"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_map(t):
        return f"map({trino_type(t.key_type)}, {trino_type(t.item_type)})"
    if pa.types.is_list(t):
        return f"array({trino_type(t.value_type)})"
    if pa.types.is_struct(t):
        return "row(" + ", ".join(f'"{f.name}" {trino_type(f.type)}' for f in t) + ")"
    raise TypeError(f"no Trino type for {t}")


def spark_ddl(signal: str) -> str:
    cols = ",\n".join(f"  `{f.name}` {spark_type(f.type)}" for f in SCHEMAS[signal])
    return (f"```sql\nCREATE TABLE otelytics_{signal} (\n{cols},\n  `dt` STRING\n)\n"
            f"USING parquet\nPARTITIONED BY (dt)\n"
            f"LOCATION 's3a://my-bucket/otelytics/{signal}';\n"
            f"MSCK REPAIR TABLE otelytics_{signal};  -- discovers the dt= partitions\n```\n")


def trino_ddl(signal: str) -> str:
    cols = ",\n".join(f'  "{f.name}" {trino_type(f.type)}' for f in SCHEMAS[signal])
    return (f"```sql\nCREATE TABLE hive.otelytics.{signal} (\n{cols},\n  \"dt\" varchar\n)\n"
            f"WITH (\n  format = 'PARQUET',\n"
            f"  external_location = 's3://my-bucket/otelytics/{signal}',\n"
            f"  partitioned_by = ARRAY['dt']\n);\n"
            f"CALL hive.system.sync_partition_metadata('otelytics', '{signal}', 'FULL');\n```\n")


def render(text: str) -> str:
    def block(m: re.Match[str]) -> str:
        ddl = spark_ddl(m.group(3)) if m.group(2) == "spark" else trino_ddl(m.group(3))
        return m.group(1) + ddl + m.group(5)

    return _BLOCK.sub(block, text)


def test_scale_doc_ddl_matches_the_schema():
    text = DOC.read_text()
    blocks = {(m.group(2), m.group(3)) for m in _BLOCK.finditer(text)}
    assert blocks == {(e, s) for e in ("spark", "trino") for s in SCHEMAS}
    assert render(text) == text, "docs/scale.md is stale: python -m tests.tools.test_scale_docs"


def test_every_column_of_every_schema_is_typed():
    for schema in SCHEMAS.values():
        for f in schema:
            assert spark_type(f.type) and trino_type(f.type)
    assert spark_type(SCHEMAS["spans"].field("events").type) == (
        "ARRAY<STRUCT<`time`: TIMESTAMP, `name`: STRING, `attributes`: MAP<STRING, STRING>>>")


def test_duckdb_one_liner_in_the_doc_reads_a_dataset(tmp_path: Path):
    """The DuckDB query shown in docs/scale.md works on a real dataset (local root)."""
    import duckdb

    from tests.tools._data import days_ago, small_files

    small_files(tmp_path, "spans", days_ago(1), 2, 10)
    small_files(tmp_path, "spans", days_ago(2), 1, 10)
    m = re.search(r"```sql\n(SELECT service_name.*?)```", DOC.read_text(), re.S)
    assert m, "the DuckDB example is missing"
    sql = m.group(1).replace("s3://my-bucket/otelytics", str(tmp_path))
    rows = duckdb.sql(sql).fetchall()
    assert sum(r[1] for r in rows) == 30


def test_polars_and_pandas_one_liners_in_the_doc_read_a_dataset(tmp_path: Path):
    import pandas as pd
    import polars as pl

    from tests.tools._data import days_ago, small_files

    small_files(tmp_path, "spans", days_ago(1), 2, 10)
    small_files(tmp_path, "spans", "2026-10-31", 1, 10)  # before the doc's dt filter
    m = re.search(r"```python\n(spans = pl\.scan_parquet.*?)```", DOC.read_text(), re.S)
    assert m, "the polars/pandas example is missing"
    code = m.group(1).replace("s3://my-bucket/otelytics", str(tmp_path))
    ns: dict = {"pl": pl, "pd": pd}
    exec(code, ns)
    assert ns["spans"].select(pl.len()).collect().item() == 30
    assert len(ns["df"]) == 20 and set(ns["df"]["dt"].astype(str)) == {days_ago(1)}


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC
    path.write_text(render(path.read_text()))
