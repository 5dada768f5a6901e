"""The receiver's own counters land in its dataset's metrics table, as deltas whose sums equal
what ``/metrics`` reported, under the receiver's own resource."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

from tests.receiver._payloads import trace_request
from tests.receiver.test_receiver_http import post


def test_self_metrics_are_written_as_summable_deltas(serve):
    server = serve("--segment-seconds", "0.2", "--self-metrics-interval", "0.3")
    for i in range(4):
        assert post(server, "/v1/traces", trace_request(10 * i, 5))[0] == 200
    assert post(server, "/v1/traces", b"x", ctype="text/plain")[0] == 415  # refused
    time.sleep(1.0)  # several periodic exports, then more data
    assert post(server, "/v1/traces", trace_request(100, 3))[0] == 200
    live = json.loads(post(server, "/metrics", b"", method="GET")[2])["metrics"]
    assert server.terminate() == 0
    rows = duckdb.connect().execute(f"""
        select metric_name, attributes['otelytics.signal'] as signal, temporality,
               value_int, service_name, resource_attributes['service.instance.id'] as rid
        from read_parquet('{server.data_dir}/metrics/*/*.parquet')""").fetchall()
    assert {r[4] for r in rows} == {"otelytics-serve"}
    assert len({r[5] for r in rows}) == 1 and rows[0][5]
    sums: dict[tuple[str, str], int] = {}
    points: dict[tuple[str, str], int] = {}
    for name, signal, temporality, value, *_ in rows:
        if name == "otelytics.receiver.spool.backlog":
            continue
        assert temporality == "delta", name
        sums[(name, signal)] = sums.get((name, signal), 0) + value
        points[(name, signal)] = points.get((name, signal), 0) + 1
    for name in ("received", "spooled", "written"):
        assert sums[(f"otelytics.receiver.items.{name}", "spans")] == 23
    assert sums[("otelytics.receiver.requests.refused", "spans")] == 1
    assert sums[("otelytics.receiver.items.received", "logs")] == 0
    assert points[("otelytics.receiver.items.received", "spans")] >= 2  # periodic + final
    # what /metrics said before shutdown agrees with the written history up to then
    assert live["otelytics.receiver.items.received"]["spans"] == 23
    # the backlog is a level (cumulative): nothing left unpublished at the last point
    last = duckdb.connect().execute(f"""
        select temporality, arg_max(value_int, time) from read_parquet(
          '{server.data_dir}/metrics/*/*.parquet')
        where metric_name = 'otelytics.receiver.spool.backlog' group by 1""").fetchall()
    assert last == [("cumulative", 0)]


def test_self_metrics_off(serve):
    server = serve("--segment-seconds", "0.2", "--self-metrics-interval", "0")
    assert post(server, "/v1/traces", trace_request(0, 2))[0] == 200
    assert server.terminate() == 0
    assert not list((Path(server.data_dir) / "metrics").glob("*/*"))
    assert list((Path(server.data_dir) / "spans").glob("*/*.parquet"))
