"""The official OTLP exporters (HTTP and gRPC, another process) -> ``otelytics serve`` -> Parquet.

The dataset must hold exactly what was sent: ids, times, kinds, statuses, attributes (promoted
ones in their columns, the rest in the map), events, links and resources; metrics of every
point type with their values; logs with their trace context. SIGTERM then exits 0 with
everything published and the spool empty.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.dataset as pads
import pytest

from otelytics.exporter.schema import LOG_SCHEMA, METRIC_SCHEMA, SPAN_SCHEMA
from otelytics.semconv.attributes import OTELYTICS_COST_PRICE_VERSION
from tests.conftest import run_python

CLIENT = str(Path(__file__).with_name("_otlp_client.py"))
PROMOTED = {"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
            "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "error.type"}


def _ship(server, protocol: str, tmp_path: Path, compression: str = "gzip") -> dict:
    out = tmp_path / f"sent-{protocol}.json"
    endpoint = server.http if protocol == "http" else f"127.0.0.1:{server.grpc_port}"
    r = run_python(CLIENT, protocol, endpoint, str(out), compression, timeout=90)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_official_exporters_land_exactly_in_the_dataset(serve, tmp_path, protocol):
    server = serve("--segment-seconds", "0.3", "--self-metrics-interval", "0")  # only what was sent
    sent = _ship(server, protocol, tmp_path)
    assert server.terminate() == 0, server.stderr()
    assert not list(server.spool_dir.glob("seg-*")), "spool not emptied at shutdown"
    root = server.data_dir
    con = duckdb.connect()

    # --- spans: one row per span, everything intact ----------------------------------------
    rows = con.execute(f"""
        select trace_id, span_id, parent_span_id, name, kind, status_code, status_message,
               epoch_us(start_time), epoch_us(end_time), duration_us, service_name,
               scope_name, scope_version, gen_ai_request_model, gen_ai_input_tokens,
               error_type, attributes, resource_attributes, events, links
        from read_parquet('{root}/spans/*/*.parquet')""").fetchall()
    assert len(rows) == len(sent["spans"]) == 6
    by_id = {r[1]: r for r in rows}
    for s in sent["spans"]:
        r = by_id[s["span_id"]]
        assert r[0] == s["trace_id"] and r[2] == s["parent_span_id"]
        assert (r[3], r[4], r[5]) == (s["name"], s["kind"], s["status"])
        assert (r[7], r[8], r[9]) == (s["start_us"], s["end_us"], s["duration_us"])
        assert r[10] == f"client-{protocol}"
        assert (r[11], r[12]) == ("otlp-client", "1.2.3")
        expected_attrs = {k: v for k, v in s["attributes"].items() if k not in PROMOTED}
        got_attrs = dict(r[16])
        if "gen_ai.usage.input_tokens" in s["attributes"]:  # priced by the receiver
            assert got_attrs.pop(OTELYTICS_COST_PRICE_VERSION).startswith("genai-prices")
        assert got_attrs == expected_attrs
        if "gen_ai.request.model" in s["attributes"]:
            assert r[13] == "gpt-4o"
            assert r[14] == int(s["attributes"]["gen_ai.usage.input_tokens"])
        assert [e["name"] for e in r[18]] == s["events"]
        assert len(r[19]) == s["links"]
        res = dict(r[17])
        assert res["service.name"] == f"client-{protocol}"
        assert res["deployment.environment"] == "t" and res["host.cores"] == "8"
    root_row = next(r for r in rows if r[3] == "root")
    assert dict(root_row[16])["tags"] == '["a","b"]' and dict(root_row[16])["ok"] == "true"
    err = [r for r in rows if r[5] == "ERROR"]
    assert len(err) == 1 and err[0][6] == "boom" and err[0][15] == "TimeoutError"
    child = next(r for r in rows if r[3] == "chat gpt-4o")
    assert child[19][0]["span_id"] == root_row[1] and dict(child[19][0]["attributes"]) == {
        "why": "test"}

    # --- metrics: every point type ---------------------------------------------------------
    m = {r[0]: r for r in con.execute(f"""
        select metric_name, metric_type, temporality, is_monotonic, value_int, value_double,
               count, sum, bucket_bounds, bucket_counts, exp_scale, exp_positive_counts,
               attributes, min, max, unit, exp_zero_count
        from read_parquet('{root}/metrics/*/*.parquet')""").fetchall()}
    assert m["requests"][1:5] == ("sum", "cumulative", True, 12)
    assert dict(m["requests"][12]) == {"route": "/a"} and m["requests"][15] == "{request}"
    assert m["queue"][1:5] == ("sum", "cumulative", False, 3)
    assert m["temperature"][1] == "gauge" and m["temperature"][5] == 21.5
    h = m["latency"]
    assert h[1] == "histogram" and h[6] == 4 and h[7] == pytest.approx(333.5)
    assert (h[13], h[14]) == (0.5, 300.0)
    assert len(h[9]) == len(h[8]) + 1 and sum(h[9]) == 4
    e = m["exp.latency"]
    assert e[1] == "exponential_histogram" and e[6] == 4 and e[7] == pytest.approx(1007.0)
    assert sum(e[11]) + e[16] == 4 and e[10] is not None

    # --- logs: body, severity, trace context -------------------------------------------------
    logs = con.execute(f"""
        select body, severity_text, severity_number, trace_id, span_id, service_name,
               scope_name
        from read_parquet('{root}/logs/*/*.parquet') order by time""").fetchall()
    assert [(lg[0], lg[1]) for lg in logs] == [("inside a span 7", "WARN"),
                                               ("outside spans", "INFO")]
    root_span = next(s for s in sent["spans"] if s["name"] == "root")
    assert logs[0][3] == root_span["trace_id"] and logs[0][4] == root_span["span_id"]
    assert logs[1][3] is None and logs[0][5] == f"client-{protocol}"

    # --- pyarrow reads the same files with the contract's schemas ----------------------------
    for signal, schema, n in (("spans", SPAN_SCHEMA, 6), ("metrics", METRIC_SCHEMA, 5),
                              ("logs", LOG_SCHEMA, 2)):
        ds = pads.dataset(f"{root}/{signal}", format="parquet", partitioning="hive")
        table = ds.to_table()
        assert table.num_rows == n
        for field in schema:
            assert table.schema.field(field.name).type == field.type


def test_plain_protobuf_without_compression(serve, tmp_path):
    server = serve("--segment-seconds", "0.3")
    sent = _ship(server, "http", tmp_path, compression="none")
    assert server.terminate() == 0
    n = duckdb.connect().execute(f"select count(distinct span_id) from read_parquet("
                   f"'{server.data_dir}/spans/*/*.parquet')").fetchone()[0]
    assert n == len(sent["spans"]) == 6
