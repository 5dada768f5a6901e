"""Protobuf -> Arrow conversion against an independent reading of the same message
(``json_format.MessageToDict``): several resources and scopes, two partition days, promoted
attributes of the wrong type, and an invalid span that must be skipped."""

from __future__ import annotations

import base64

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelytics.exporter.receiver.decode import to_tables, validate

DAY_US = 86_400_000_000


def _request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for r in range(2):
        rs = req.resource_spans.add()
        rs.resource.attributes.append(KeyValue(key="service.name",
                                               value=AnyValue(string_value=f"svc{r}")))
        rs.resource.attributes.append(KeyValue(key="r", value=AnyValue(int_value=r)))
        for sc in range(2):
            ss = rs.scope_spans.add()
            ss.scope.name = "otelytics" if sc else f"lib{r}"
            for i in range(3):
                n = r * 100 + sc * 10 + i
                day = 20_000 + (i % 2)
                s = ss.spans.add(trace_id=(n + 1).to_bytes(16, "big"),
                                 span_id=(n + 1).to_bytes(8, "big"), name=f"s{n}",
                                 start_time_unix_nano=(day * DAY_US + n) * 1000,
                                 end_time_unix_nano=(day * DAY_US + n + 7) * 1000)
                s.attributes.append(KeyValue(key="n", value=AnyValue(int_value=n)))
                s.attributes.append(KeyValue(key="gen_ai.usage.input_tokens",
                                             value=AnyValue(string_value="many")
                                             if i == 2 else AnyValue(int_value=n)))
                s.attributes.append(KeyValue(key="f", value=AnyValue(double_value=0.25)))
    bad = req.resource_spans[1].scope_spans[0].spans.add(trace_id=b"\1", span_id=b"\1" * 8)
    bad.name = "bad"
    return req


def test_conversion_matches_an_independent_reading():
    req = _request()
    assert (validate("spans", req).items, validate("spans", req).rejected) == (13, 1)
    tables = to_tables("spans", [req])
    assert sorted(tables) == ["2024-10-04", "2024-10-05"]
    rows = {r["span_id"]: r for t in tables.values() for r in t.to_pylist()}
    expected = {}
    for rs in json_format.MessageToDict(req)["resourceSpans"]:
        res = {a["key"]: next(iter(a["value"].values())) for a in rs["resource"]["attributes"]}
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                if s["name"] == "bad":
                    continue
                sid = base64.b64decode(s["spanId"]).hex()
                expected[sid] = (s, res, ss["scope"]["name"])
    assert rows.keys() == expected.keys()
    for sid, (s, res, scope) in expected.items():
        row = rows[sid]
        attrs = {a["key"]: next(iter(a["value"].values())) for a in s["attributes"]}
        assert row["name"] == s["name"] and row["scope_name"] == scope
        assert row["service_name"] == res["service.name"]
        assert dict(row["resource_attributes"]) == {"service.name": res["service.name"],
                                                    "r": str(res["r"])}
        start_us = int(s["startTimeUnixNano"]) // 1000
        assert row["start_time"].timestamp() * 1e6 == start_us
        assert row["duration_us"] == 7
        day = "2024-10-04" if start_us // DAY_US == 20_000 else "2024-10-05"
        assert sid in {r["span_id"] for r in tables[day].to_pylist()}
        tokens = attrs["gen_ai.usage.input_tokens"]
        if tokens == "many":  # wrong type for the promoted column: kept in the map instead
            assert row["gen_ai_input_tokens"] is None
            assert dict(row["attributes"])["gen_ai.usage.input_tokens"] == "many"
        else:
            assert row["gen_ai_input_tokens"] == int(tokens)
            assert "gen_ai.usage.input_tokens" not in dict(row["attributes"])
        assert dict(row["attributes"])["n"] == str(int(attrs["n"]))
        assert dict(row["attributes"])["f"] == "0.25"
        assert row["span_type"] == ("function" if scope == "otelytics" else None)
