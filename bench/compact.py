"""What ``otelytics compact`` buys: query time over a day of small files against the same rows
after compaction, DuckDB and polars, interleaved in one run; plus bytes and compaction speed.

The small-file day: 200 files of 512 spans (the BatchSpanProcessor's batch size: what many
short-lived processes or receivers that publish often leave behind), 5 services, 50 span names.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time

import numpy as np
import pyarrow as pa

from bench import interleaved
from otelytics.exporter import tools
from otelytics.exporter.schema import SPAN_SCHEMA
from otelytics.exporter.writer import write_file

FILES = 200
SPANS_PER_FILE = 512
DAY = "2026-11-20"
QUERY = """SELECT service_name, name, count(*) AS n, quantile_cont(duration_us, 0.95) AS p95,
                  round(sum(cost_usd), 9) AS cost
           FROM read_parquet('{glob}') GROUP BY ALL"""


def _batch(rng: np.random.Generator, i: int) -> pa.Table:
    n = SPANS_PER_FILE
    t0 = dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.UTC).timestamp() * 1e6
    start = (t0 + np.sort(rng.integers(0, 86_400_000_000, n))).astype("int64")
    dur = rng.lognormal(9, 1.2, n).astype("int64")
    cols = {
        "trace_id": pa.array([f"{i:016x}{j // 8:016x}" for j in range(n)]),
        "span_id": pa.array([f"{i:08x}{j:08x}" for j in range(n)]),
        "name": pa.array([f"op-{k}" for k in rng.zipf(1.5, n) % 50]),
        "kind": pa.array(["INTERNAL"] * n),
        "start_time": pa.array(start, pa.timestamp("us", tz="UTC")),
        "end_time": pa.array(start + dur, pa.timestamp("us", tz="UTC")),
        "duration_us": pa.array(dur),
        "status_code": pa.array(np.where(rng.random(n) < 0.03, "ERROR", "UNSET")),
        "service_name": pa.array([f"svc-{k}" for k in rng.integers(0, 5, n)]),
        "cost_usd": pa.array(rng.random(n) / 100),
        "attributes": pa.array([[("http.route", f"/r/{j % 20}")] for j in range(n)],
                               SPAN_SCHEMA.field("attributes").type),
    }
    return pa.Table.from_arrays(
        [cols.get(f.name, pa.nulls(n, f.type)) for f in SPAN_SCHEMA], schema=SPAN_SCHEMA)


def _size(root: str) -> tuple[int, int]:
    files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(root, "spans")) for f in fs]
    return len(files), sum(os.path.getsize(f) for f in files)


def run() -> dict:
    import duckdb
    import polars as pl

    rng = np.random.default_rng(7)
    work = tempfile.mkdtemp(prefix="otelytics-bench-compact-")
    try:
        small, big = os.path.join(work, "small"), os.path.join(work, "compacted")
        for i in range(FILES):
            write_file(small, "spans", _batch(rng, i))
        shutil.copytree(small, big)
        t0 = time.perf_counter()
        tools.compact(big, day=DAY)
        compact_s = time.perf_counter() - t0
        files_before, bytes_before = _size(small)
        files_after, bytes_after = _size(big)
        con = duckdb.connect()
        globs = {k: f"{r}/spans/*/*.parquet" for k, r in (("small", small), ("big", big))}
        same = (sorted(con.execute(QUERY.format(glob=globs["small"])).fetchall())
                == sorted(con.execute(QUERY.format(glob=globs["big"])).fetchall()))

        def polars_q(glob: str) -> object:
            return (pl.scan_parquet(glob).group_by("service_name", "name")
                    .agg(pl.len(), pl.col("duration_us").quantile(0.95)).collect())

        t = interleaved({
            "duckdb_small": lambda: con.execute(QUERY.format(glob=globs["small"])).fetchall(),
            "duckdb_big": lambda: con.execute(QUERY.format(glob=globs["big"])).fetchall(),
            "polars_small": lambda: polars_q(globs["small"]),
            "polars_big": lambda: polars_q(globs["big"]),
        }, calls=3, rounds=5)
        rows = FILES * SPANS_PER_FILE
        return {
            "rows": rows,
            "files_before": files_before, "files_after": files_after,
            "bytes_per_span_before": round(bytes_before / rows, 1),
            "bytes_per_span_after": round(bytes_after / rows, 1),
            "bytes_ratio_after_before": round(bytes_after / bytes_before, 3),
            "compact_seconds": round(compact_s, 3),
            "compact_spans_per_s": round(rows / compact_s),
            "same_query_results": same,
            "duckdb_query_ms_small": round(t["duckdb_small"] * 1e3, 1),
            "duckdb_query_ms_compacted": round(t["duckdb_big"] * 1e3, 1),
            "duckdb_speedup": round(t["duckdb_small"] / t["duckdb_big"], 2),
            "polars_query_ms_small": round(t["polars_small"] * 1e3, 1),
            "polars_query_ms_compacted": round(t["polars_big"] * 1e3, 1),
            "polars_speedup": round(t["polars_small"] / t["polars_big"], 2),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
