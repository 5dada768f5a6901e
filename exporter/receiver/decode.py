"""OTLP protobuf messages -> Arrow tables in the dataset schema (``otelytics.exporter.schema``).

The receiver decodes each request once on arrival (to validate it and count what it rejects)
and converts the parsed messages when a spool segment is published, so conversion must be a
pure function of the message: the same spool segment always gives the same rows, which is what
makes replay after a crash idempotent. Items that fail validation (ids of the wrong length) are
counted by :func:`validate` and skipped by the converters with exactly the same rule.

Spans with ``gen_ai.usage.*`` tokens and no ``otelytics.cost.*`` are priced here, with the
SDK's :func:`otelytics.llm.enrich.enrich_attributes` (same rules, same price table, the span's
start time as the price date), so every GenAI span reaches Parquet with a cost or
``cost_source = "unpriced"`` whatever produced it. A span without usage pays two dict lookups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otelytics.exporter.convert import BAD, coercer, encode_value, to_int
from otelytics.exporter.layout import partition_day
from otelytics.exporter.schema import (
    LOG_SCHEMA,
    METRIC_SCHEMA,
    PROMOTED_SPAN_ATTRIBUTES,
    SPAN_SCHEMA,
)
from otelytics.llm.enrich import USAGE_KEYS, enrich_attributes
from otelytics.semconv import attributes as A

__all__ = [
    "REQUEST_TYPES",
    "Validation",
    "any_value",
    "encode_attributes",
    "to_tables",
    "validate",
]

REQUEST_TYPES: dict[str, type] = {
    "spans": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
"""Signal folder name -> the OTLP Export*ServiceRequest message it arrives in."""

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_TEMPORALITY = ("unspecified", "delta", "cumulative")
_SERVICE_NAME = "service.name"
_CACHE_WRITE = A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS
# usage under an older name (gen_ai.usage.prompt_tokens, ...): the span is priced too
_LEGACY_USAGE = USAGE_KEYS - {A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_OUTPUT_TOKENS}
_US_PER_DAY = 86_400_000_000
_I32 = (1 << 31) - 1
_ZERO_TRACE = b"\0" * 16
_ZERO_SPAN = b"\0" * 8
_INF = float("inf")
_I64 = (1 << 63) - 1

# The exporter's coercion rules (a promoted value of the wrong type stays in the map), so the
# same span lands in the same columns whether it came through the SDK exporter or OTLP.
_PROMOTED: dict[str, tuple[str, Any]] = {
    p.attribute: (p.column, coercer(p.type)) for p in PROMOTED_SPAN_ATTRIBUTES
}
_PROMOTED_COLUMNS = tuple(p.column for p in PROMOTED_SPAN_ATTRIBUTES)
# every attribute enrich_attributes reads (anthropic.*: its own telemetry's stop reason;
# llm.*: OpenInference's names)
_ENRICH_PREFIXES = ("gen_ai.", "otelytics.", "anthropic.", "telemetry.sdk.name", "llm.")
_ENRICH_COLUMNS = tuple((p.attribute, p.column) for p in PROMOTED_SPAN_ATTRIBUTES
                        if p.attribute.startswith(_ENRICH_PREFIXES))
_FUNCTION = A.OtelyticsSpanTypeValues.FUNCTION.value
_WORKFLOW = A.OtelyticsSpanTypeValues.WORKFLOW.value
_SCOPE_SDK = "otelytics"
_UNPRICED = A.OtelyticsCostSourceValues.UNPRICED.value
_HAS_EVENT_NAME = "event_name" in LogRecord.DESCRIPTOR.fields_by_name


def any_value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value (bytes as lower-case hex)."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return None


def encode_attributes(kvs: Iterable[Any]) -> list[tuple[str, str]]:
    """Repeated ``KeyValue`` -> map entries (``map<string,string>``; non-strings JSON)."""
    out = []
    for kv in kvs:
        v = kv.value
        if v.WhichOneof("value") == "string_value":
            out.append((kv.key, v.string_value))
        else:
            out.append((kv.key, encode_value(any_value(v))))
    return out


def _hex_or_none(b: bytes) -> str | None:
    return b.hex() if b else None


def _resource(resource: Any) -> tuple[str | None, list[tuple[str, str]]]:
    attrs = encode_attributes(resource.attributes)
    service = next((v for k, v in attrs if k == _SERVICE_NAME), None)
    return service, attrs


def _valid_span(span: Any) -> bool:
    return (len(span.trace_id) == 16 and len(span.span_id) == 8
            and len(span.parent_span_id) in (0, 8)
            and span.trace_id != b"\0" * 16 and span.span_id != b"\0" * 8)


def _valid_log(rec: Any) -> bool:
    return len(rec.trace_id) in (0, 16) and len(rec.span_id) in (0, 8)


class Validation:
    """What :func:`validate` found: items in the request and items it rejects (with why)."""

    __slots__ = ("items", "message", "rejected")

    def __init__(self, items: int, rejected: int, message: str) -> None:
        self.items = items
        self.rejected = rejected
        self.message = message


def validate(signal: str, request: Any) -> Validation:
    """Count items and the ones conversion will skip (the same rule, applied twice)."""
    items = rejected = 0
    if signal == "spans":
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                n = len(ss.spans)
                items += n
                rejected += n - sum(1 for s in ss.spans if _valid_span(s))
        why = "spans with an invalid trace_id/span_id/parent_span_id length or all-zero id"
    elif signal == "metrics":
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    n = _point_count(m)
                    items += n
                    if not m.name:
                        rejected += n
        why = "data points of metrics without a name"
    else:
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                n = len(sl.log_records)
                items += n
                rejected += n - sum(1 for r in sl.log_records if _valid_log(r))
        why = "log records with an invalid trace_id/span_id length"
    return Validation(items, rejected, f"{rejected} {why}" if rejected else "")


def _point_count(m: Any) -> int:
    which = m.WhichOneof("data")
    return len(getattr(m, which).data_points) if which else 0


# --- spans ---------------------------------------------------------------------------------

class _Map:
    """A ``map<string,string>`` column built flat (offsets/keys/values): far cheaper for Arrow
    than a list of per-row tuple lists."""

    __slots__ = ("keys", "offsets", "values")

    def __init__(self) -> None:
        self.offsets = [0]
        self.keys: list[str] = []
        self.values: list[str] = []

    def array(self) -> pa.Array:
        return pa.MapArray.from_arrays(pa.array(self.offsets, pa.int32()),
                                       pa.array(self.keys, pa.string()),
                                       pa.array(self.values, pa.string()))


class _Repeated:
    """A column whose value repeats per resource (resource attributes, service, scope):
    built once per distinct value and expanded with ``take``."""

    __slots__ = ("index", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: list[int] = []

    def array(self, typ: pa.DataType) -> pa.Array:
        return pa.array(self.values, type=typ).take(pa.array(self.index, pa.int32()))


def _price(s: Any, row: int, promoted: dict[str, dict[int, Any]], keys: list[str],
           values: list[str], first: int, scope: str | None) -> None:
    """Add the SDK enrichment (cost, normalised usage) to the row being built for span ``s``:
    promoted values overwrite their column, the rest replace or join the row's map entries
    (``keys[first:]``). Only called for spans with usage tokens and no cost."""
    # what enrich reads, from what the row already holds (re-reading the protobuf costs
    # ~6 µs/span): the typed columns, then the row's map entries (strings, JSON for others)
    attrs: dict[str, Any] = {}
    for attribute, column in _ENRICH_COLUMNS:
        value = promoted[column].get(row)
        if value is not None:
            attrs[attribute] = value
    for i in range(first, len(keys)):
        if keys[i].startswith(_ENRICH_PREFIXES):
            attrs.setdefault(keys[i], values[i])
    try:
        updates = enrich_attributes(attrs, s.start_time_unix_nano or None, scope or None)
    except Exception:  # a pricing bug must not lose the span: keep it, marked unpriced
        updates = {A.OTELYTICS_COST_SOURCE: _UNPRICED}
    if not updates:
        return
    for key, value in updates.items():
        hit = _PROMOTED.get(key)
        coerced = BAD if hit is None else hit[1](value)
        if coerced is not BAD:
            promoted[hit[0]][row] = coerced
            text = None  # in its column: drop any map copy (a value that did not fit)
        else:
            text = encode_value(value)
        for i in range(first, len(keys)):
            if keys[i] == key:
                if text is None:
                    del keys[i], values[i]
                else:
                    values[i] = text
                break
        else:
            if text is not None:
                keys.append(key)
                values.append(text)


def _span_rows(requests: Iterable[Any]) -> dict[str, Any]:
    cols: dict[str, Any] = defaultdict(list)
    c_tid, c_sid, c_pid, c_ts = cols["trace_id"], cols["span_id"], cols["parent_span_id"], \
        cols["trace_state"]
    c_name, c_kind, c_start, c_end = cols["name"], cols["kind"], cols["start_time"], \
        cols["end_time"]
    c_dur, c_sc, c_sm = cols["duration_us"], cols["status_code"], cols["status_message"]
    c_ev, c_ln = cols["events"], cols["links"]
    c_da, c_de, c_dl = cols["dropped_attributes_count"], cols["dropped_events_count"], \
        cols["dropped_links_count"]
    res_col, svc_col, scn_col, scv_col = _Repeated(), _Repeated(), _Repeated(), _Repeated()
    cols["resource_attributes"], cols["service_name"] = res_col, svc_col
    cols["scope_name"], cols["scope_version"] = scn_col, scv_col
    svc_col.index = scn_col.index = scv_col.index = res_col.index
    attrs = _Map()
    cols["attributes"] = attrs
    a_off, a_keys, a_vals = attrs.offsets, attrs.keys, attrs.values
    promoted: dict[str, dict[int, Any]] = {c: {} for c in _PROMOTED_COLUMNS}
    cols["_promoted"] = promoted
    span_type = promoted["span_type"]
    estimator = promoted["estimator_name"]
    cache_creation = promoted["gen_ai_cache_creation_tokens"]
    in_tokens = promoted["gen_ai_input_tokens"]
    out_tokens = promoted["gen_ai_output_tokens"]
    cost_usd, cost_source = promoted["cost_usd"], promoted["cost_source"]
    row = 0
    tid_add, sid_add, pid_add, ts_add = c_tid.append, c_sid.append, c_pid.append, c_ts.append
    name_add, kind_add, start_add, end_add = c_name.append, c_kind.append, c_start.append, \
        c_end.append
    dur_add, sc_add, sm_add, ev_add, ln_add = c_dur.append, c_sc.append, c_sm.append, \
        c_ev.append, c_ln.append
    da_add, de_add, dl_add = c_da.append, c_de.append, c_dl.append
    key_add, val_add, off_add = a_keys.append, a_vals.append, a_off.append
    group_add = res_col.index.append
    promoted_get = _PROMOTED.get
    for request in requests:
        for rs in request.resource_spans:
            service, res = _resource(rs.resource)
            for ss in rs.scope_spans:
                scope_name = ss.scope.name
                scope_version = ss.scope.version
                is_sdk = scope_name == _SCOPE_SDK
                group = len(res_col.values)
                res_col.values.append(res)
                svc_col.values.append(service)
                scn_col.values.append(scope_name)
                scv_col.values.append(scope_version)
                for s in ss.spans:
                    tid = s.trace_id
                    sid = s.span_id
                    pid = s.parent_span_id
                    if (len(tid) != 16 or len(sid) != 8 or tid == _ZERO_TRACE
                            or sid == _ZERO_SPAN or (pid and len(pid) != 8)):
                        continue  # the rule of _valid_span, inlined
                    tid_add(tid.hex())
                    sid_add(sid.hex())
                    pid_add(pid.hex() if pid else None)
                    ts_add(s.trace_state or None)
                    name = s.name
                    name_add(name)
                    kind = s.kind
                    kind_add(_KINDS[kind] if 0 <= kind < 6 else str(kind))
                    start_ns = s.start_time_unix_nano
                    end_ns = s.end_time_unix_nano
                    start_add(start_ns // 1000)
                    end_add(end_ns // 1000)
                    dur_add((end_ns - start_ns) // 1000)  # as the SDK exporter rounds
                    st = s.status
                    code = st.code
                    sc_add(_STATUS[code] if 0 <= code < 3 else str(code))
                    sm_add(st.message or None)
                    cache_write = None
                    legacy_usage = False
                    for kv in s.attributes:
                        key = kv.key
                        v = kv.value
                        if v.WhichOneof("value") == "string_value":
                            value = v.string_value
                            text = value
                        else:
                            value = any_value(v)
                            text = None
                        hit = promoted_get(key)
                        if hit is not None:
                            coerced = hit[1](value)
                            target = promoted[hit[0]]
                            if coerced is not BAD and row not in target:
                                target[row] = coerced
                                continue
                        elif key == _CACHE_WRITE:
                            cache_write = value
                            continue
                        elif key in _LEGACY_USAGE:
                            legacy_usage = True
                        key_add(key)
                        val_add(text if text is not None else encode_value(value))
                    if cache_write is not None:
                        value = to_int(cache_write)
                        if value is not BAD and row not in cache_creation:
                            cache_creation[row] = value
                        else:
                            key_add(_CACHE_WRITE)
                            val_add(encode_value(cache_write))
                    if ((row in in_tokens or row in out_tokens or legacy_usage)
                            and row not in cost_usd
                            and row not in cost_source):
                        _price(s, row, promoted, a_keys, a_vals, a_off[-1], scope_name)
                    off_add(len(a_keys))
                    if is_sdk:
                        stype = span_type.get(row)
                        if stype is None:
                            stype = span_type[row] = _FUNCTION
                        if stype in (_FUNCTION, _WORKFLOW) and row not in estimator:
                            estimator[row] = name
                    evs = s.events
                    ev_add([
                        {"time": e.time_unix_nano // 1000, "name": e.name,
                         "attributes": encode_attributes(e.attributes)}
                        for e in evs
                    ] if evs else [])
                    lns = s.links
                    ln_add([
                        {"trace_id": _hex_or_none(ln.trace_id),
                         "span_id": _hex_or_none(ln.span_id),
                         "attributes": encode_attributes(ln.attributes)}
                        for ln in lns
                    ] if lns else [])
                    n = s.dropped_attributes_count
                    da_add(n if n <= _I32 else _I32)
                    n = s.dropped_events_count
                    de_add(n if n <= _I32 else _I32)
                    n = s.dropped_links_count
                    dl_add(n if n <= _I32 else _I32)
                    group_add(group)
                    row += 1
    for column, values in promoted.items():
        cols[column] = [values.get(i) for i in range(row)] if values else None
    del cols["_promoted"]
    return cols


# --- metrics -------------------------------------------------------------------------------

_METRIC_COLUMNS = [f.name for f in METRIC_SCHEMA]


def _metric_rows(requests: Iterable[Any]) -> dict[str, list[Any]]:
    rows: list[dict[str, Any]] = []
    for request in requests:
        for rm in request.resource_metrics:
            service, res = _resource(rm.resource)
            for sm in rm.scope_metrics:
                base = {"service_name": service, "resource_attributes": res,
                        "scope_name": sm.scope.name,
                        "scope_version": sm.scope.version}
                for m in sm.metrics:
                    if not m.name:
                        continue
                    which = m.WhichOneof("data")
                    if which is None:
                        continue
                    data = getattr(m, which)
                    common = dict(base, metric_name=m.name, description=m.description or None,
                                  unit=m.unit or None, metric_type=which)
                    common["temporality"] = "unspecified"  # gauges, summaries (as the SDK's)
                    if which in ("sum", "histogram", "exponential_histogram"):
                        t = data.aggregation_temporality
                        common["temporality"] = _TEMPORALITY[t] if 0 <= t < 3 else str(t)
                    if which == "sum":
                        common["is_monotonic"] = data.is_monotonic
                    for p in data.data_points:
                        row = dict(common)
                        row["time"] = p.time_unix_nano // 1000
                        row["start_time"] = p.start_time_unix_nano // 1000 or None
                        row["attributes"] = encode_attributes(p.attributes)
                        if which in ("sum", "gauge"):
                            kind = p.WhichOneof("value")
                            if kind == "as_int":
                                row["value_int"] = p.as_int
                            elif kind == "as_double":
                                row["value_double"] = p.as_double
                        elif which == "histogram":
                            row.update(count=min(p.count, _I64),
                                       bucket_bounds=list(p.explicit_bounds),
                                       bucket_counts=_counts(p.bucket_counts))
                            _optional(row, p, ("sum", "min", "max"))
                        elif which == "exponential_histogram":
                            row.update(count=min(p.count, _I64), exp_scale=p.scale,
                                       exp_zero_count=min(p.zero_count, _I64),
                                       exp_positive_offset=p.positive.offset,
                                       exp_positive_counts=_counts(p.positive.bucket_counts),
                                       exp_negative_offset=p.negative.offset,
                                       exp_negative_counts=_counts(p.negative.bucket_counts))
                            _optional(row, p, ("sum", "min", "max"))
                        else:  # summary
                            row.update(count=min(p.count, _I64), sum=p.sum, quantiles=[
                                {"quantile": q.quantile, "value": q.value}
                                for q in p.quantile_values
                            ])
                        rows.append(row)
    return {c: [r.get(c) for r in rows] for c in _METRIC_COLUMNS}


def _counts(values: Any) -> list[int]:
    """uint64 counts into int64 columns (a count beyond 2**63 is clamped, never an error)."""
    return [v if v <= _I64 else _I64 for v in values]


def _optional(row: dict[str, Any], point: Any, names: tuple[str, ...]) -> None:
    """Optional double fields; an infinite min/max (an empty SDK aggregation) is unknown."""
    for name in names:
        if point.HasField(name):
            value = getattr(point, name)
            if name == "sum" or abs(value) != _INF:
                row[name] = value


# --- logs ----------------------------------------------------------------------------------

def _log_rows(requests: Iterable[Any]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = defaultdict(list)
    has_event_name = _HAS_EVENT_NAME
    for request in requests:
        for rl in request.resource_logs:
            service, res = _resource(rl.resource)
            for sl in rl.scope_logs:
                scope_name = sl.scope.name
                scope_version = sl.scope.version
                for r in sl.log_records:
                    if not _valid_log(r):
                        continue
                    observed = r.observed_time_unix_nano // 1000 or None
                    cols["time"].append(r.time_unix_nano // 1000 or observed)
                    cols["observed_time"].append(observed)
                    cols["trace_id"].append(_hex_or_none(r.trace_id))
                    cols["span_id"].append(_hex_or_none(r.span_id))
                    cols["trace_flags"].append(r.flags & 0xFF if r.trace_id else None)
                    cols["severity_number"].append(r.severity_number or None)
                    cols["severity_text"].append(r.severity_text or None)
                    body = any_value(r.body) if r.HasField("body") else None
                    cols["body"].append(None if body is None else encode_value(body))
                    cols["event_name"].append(
                        (r.event_name or None) if has_event_name else None)
                    cols["service_name"].append(service)
                    cols["scope_name"].append(scope_name)
                    cols["scope_version"].append(scope_version)
                    cols["attributes"].append(encode_attributes(r.attributes))
                    cols["resource_attributes"].append(res)
                    cols["dropped_attributes_count"].append(min(r.dropped_attributes_count, _I32))
    return cols


# --- tables --------------------------------------------------------------------------------

_ROWS = {"spans": (_span_rows, SPAN_SCHEMA, "start_time"),
         "metrics": (_metric_rows, METRIC_SCHEMA, "time"),
         "logs": (_log_rows, LOG_SCHEMA, "time")}


def to_tables(signal: str, requests: Iterable[Any]) -> dict[str, pa.Table]:
    """Parsed requests of one signal -> ``{day: table}``, one table per UTC partition day.

    Rows keep request order; the partition is taken from the span start / point time / log
    time (records without a time go to the 1970-01-01 partition rather than being lost).
    """
    rows_of, schema, time_col = _ROWS[signal]
    cols = rows_of(requests)
    times = cols.get(time_col) or []
    n = len(times)
    if n == 0:
        return {}
    arrays = []
    for field in schema:
        col = cols.get(field.name)
        if isinstance(col, _Map):
            arrays.append(col.array())
        elif isinstance(col, _Repeated):
            arrays.append(col.array(field.type))
        elif not col:
            arrays.append(pa.nulls(n, field.type))
        else:
            arrays.append(pa.array(col, type=field.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    first = (times[0] or 0) // _US_PER_DAY
    if all((t or 0) // _US_PER_DAY == first for t in times):
        return {partition_day(first * _US_PER_DAY): table}
    days: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(times):
        days[(t or 0) // _US_PER_DAY].append(i)
    return {partition_day(d * _US_PER_DAY): table.take(pa.array(idx, pa.int64()))
            for d, idx in sorted(days.items())}
