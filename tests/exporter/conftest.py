"""Helpers for the exporter tests: small tables in the dataset schemas."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

DAY1 = dt.datetime(2026, 11, 28, 23, 59, 0, tzinfo=dt.UTC)


def span_rows(n: int, start: dt.datetime = DAY1, *, step_us: int = 1000,
              name: str = "op", offset: int = 0) -> pa.Table:
    """``n`` span rows named ``name`` with span ids ``offset..offset+n`` (16 hex digits)."""
    base = int(start.timestamp() * 1_000_000)
    starts = [base + i * step_us for i in range(n)]
    return pa.table({
        "trace_id": [f"{offset + i:032x}" for i in range(n)],
        "span_id": [f"{offset + i:016x}" for i in range(n)],
        "name": [name] * n,
        "start_time": pa.array(starts, pa.timestamp("us", tz="UTC")),
        "end_time": pa.array([s + 5 for s in starts], pa.timestamp("us", tz="UTC")),
        "duration_us": pa.array([5] * n, pa.int64()),
    })


@pytest.fixture
def make_spans():
    return span_rows


def duck(sql: str) -> list[tuple]:
    """Rows of a DuckDB query on a fresh in-memory connection."""
    import duckdb

    with duckdb.connect() as con:
        return con.sql(sql).fetchall()


def duck_dicts(sql: str) -> list[dict]:
    import duckdb

    with duckdb.connect() as con:
        return con.sql(sql).to_arrow_table().to_pylist()
