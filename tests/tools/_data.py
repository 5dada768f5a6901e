"""Datasets with known contents for the dataset-tools tests, built with pyarrow and the schema
(independently of the code under test)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from otelytics.exporter.schema import SCHEMAS, dictionary_columns

CLI = shutil.which("otelytics", path=str(Path(sys.executable).parent))
UTC = dt.UTC


def day_start(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=UTC)


def table(signal: str, n: int, day: str, *, seed: int = 0) -> pa.Table:
    """``n`` rows of ``signal`` inside ``day`` with distinct ids and varied nested values."""
    schema = SCHEMAS[signal]
    t0 = day_start(day)
    times = [t0 + dt.timedelta(seconds=(seed * 7919 + i * 13) % 86000, microseconds=i)
             for i in range(n)]
    services = [f"svc-{(seed + i) % 3}" for i in range(n)]
    attrs = [[("k", f"v{seed}-{i}"), ("quote", 'he said "hi"\n')] for i in range(n)]
    res = [[("service.name", s), ("host", "h1")] for s in services]
    cols: dict[str, pa.Array] = {}
    if signal == "spans":
        cols = {
            "trace_id": pa.array([f"{seed:016x}{i:016x}" for i in range(n)]),
            "span_id": pa.array([f"{seed:08x}{i:08x}" for i in range(n)]),
            "parent_span_id": pa.array([None if i % 4 == 0 else f"{seed:08x}{i - 1:08x}"
                                        for i in range(n)]),
            "name": pa.array([f"op-{i % 5}" for i in range(n)]),
            "kind": pa.array(["INTERNAL" if i % 2 else "CLIENT" for i in range(n)]),
            "start_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "end_time": pa.array([t + dt.timedelta(milliseconds=i % 97) for i, t in
                                  enumerate(times)], pa.timestamp("us", tz="UTC")),
            "duration_us": pa.array([(i % 97) * 1000 for i in range(n)], pa.int64()),
            "status_code": pa.array(["ERROR" if i % 10 == 0 else "UNSET" for i in range(n)]),
            "service_name": pa.array(services),
            "gen_ai_input_tokens": pa.array([i * 3 if i % 2 else None for i in range(n)],
                                            pa.int64()),
            "cost_usd": pa.array([i / 1000 if i % 3 else None for i in range(n)], pa.float64()),
            "attributes": pa.array(attrs, schema.field("attributes").type),
            "resource_attributes": pa.array(res, schema.field("resource_attributes").type),
            "events": pa.array([[{"time": times[i], "name": "exception",
                                  "attributes": [("exception.type", "ValueError")]}]
                                 if i % 10 == 0 else [] for i in range(n)],
                               schema.field("events").type),
        }
    elif signal == "metrics":
        cols = {
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "service_name": pa.array(services),
            "metric_name": pa.array([f"m{i % 4}" for i in range(n)]),
            "metric_type": pa.array(["histogram"] * n),
            "temporality": pa.array(["delta"] * n),
            "attributes": pa.array(attrs, schema.field("attributes").type),
            "count": pa.array(list(range(n)), pa.int64()),
            "sum": pa.array([i * 0.5 for i in range(n)], pa.float64()),
            "bucket_bounds": pa.array([[0.1, 1.0]] * n, pa.list_(pa.float64())),
            "bucket_counts": pa.array([[i, 1, 0] for i in range(n)], pa.list_(pa.int64())),
        }
    else:
        cols = {
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "service_name": pa.array(services),
            "severity_number": pa.array([9] * n, pa.int32()),
            "body": pa.array([f"log {seed}-{i} ünïcode" for i in range(n)]),
            "trace_id": pa.array([f"{seed:016x}{i:016x}" for i in range(n)]),
        }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_part(root: str | Path, signal: str, day: str, tbl: pa.Table, *,
               fs: pafs.FileSystem | None = None, name: str | None = None,
               metadata: dict[bytes, bytes] | None = None) -> str:
    """Publish ``tbl`` as one part file the way writers do (schema metadata, zstd)."""
    fs = fs or pafs.LocalFileSystem()
    base = str(root)
    folder = f"{base}/{signal}/dt={day}"
    fs.create_dir(folder, recursive=True)
    path = f"{folder}/{name or f'part-{uuid.uuid4().int % 10**12}-1-{uuid.uuid4().hex}.parquet'}"
    schema = tbl.schema
    if metadata is not None:
        tbl = tbl.replace_schema_metadata(metadata)
    # Like a writer: finish the file elsewhere, then publish it whole (rename, or one PUT).
    tmp = path if not isinstance(fs, pafs.LocalFileSystem) else f"{base}/.tmp-{uuid.uuid4().hex}"
    with fs.open_output_stream(tmp) as out:
        pq.write_table(tbl, out, compression="zstd",
                       use_dictionary=dictionary_columns(schema) or False)
    if tmp != path:
        os.replace(tmp, path)
    return path


def small_files(root: str | Path, signal: str, day: str, files: int, rows: int,
                fs: pafs.FileSystem | None = None) -> list[str]:
    return [write_part(root, signal, day, table(signal, rows, day, seed=i), fs=fs)
            for i in range(files)]


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert CLI, "the otelytics console script is not installed"
    full = {**os.environ, **(env or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=full)


def today() -> str:
    return dt.datetime.now(UTC).strftime("%Y-%m-%d")


def days_ago(n: int) -> str:
    return (dt.datetime.now(UTC) - dt.timedelta(days=n)).strftime("%Y-%m-%d")


def cli_json(*args: str) -> tuple[int, dict]:
    r = run_cli(*args, "--json")
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def cli_inproc(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``otelytics`` CLI's ``main`` in this process (the same code as the console script,
    without an interpreter start): returncode, stdout and stderr as a subprocess would give."""
    import contextlib
    import io

    from otelytics.analysis.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(["otelytics", *args], code, out.getvalue(),
                                       err.getvalue())
