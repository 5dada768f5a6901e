"""The same spans, logs and metrics through the SDK's Parquet exporters and through OTLP ->
``otelytics serve`` give identical rows: one schema, one writer, the same promotion and
encoding rules."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as pads

from tests.conftest import run_python

CLIENT = str(Path(__file__).with_name("_equivalence_client.py"))
SORT = {"spans": "span_id", "logs": "body", "metrics": "metric_name"}


def _rows(root: str, signal: str) -> list[dict]:
    table = pads.dataset(f"{root}/{signal}", format="parquet", partitioning="hive").to_table()
    table = table.drop_columns([c for c in ("dt",) if c in table.column_names])
    rows = sorted(table.to_pylist(), key=lambda r: r[SORT[signal]] or "")
    for r in rows:
        for k, v in r.items():
            if isinstance(v, list) and v and isinstance(v[0], tuple):
                r[k] = sorted(v)
    return rows


def test_sdk_exporter_and_receiver_write_the_same_rows(serve, tmp_path):
    server = serve("--segment-seconds", "0.3", "--self-metrics-interval", "0")  # sent rows only
    sdk_root = str(tmp_path / "sdk")
    r = run_python(CLIENT, server.http, sdk_root, timeout=90)
    assert r.returncode == 0, r.stderr
    assert server.terminate() == 0
    for signal in ("spans", "logs", "metrics"):
        via_sdk, via_otlp = _rows(sdk_root, signal), _rows(server.data_dir, signal)
        assert len(via_sdk) == len(via_otlp) > 0
        for a, b in zip(via_sdk, via_otlp, strict=True):
            diff = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
            assert not diff, f"{signal} row differs: {diff}"
