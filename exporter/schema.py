"""The Parquet schema of the otelytics dataset: the one contract between writers and readers.

Every writer (the SDK exporters, the OTLP receiver, ``compact``) builds its tables from the
schemas here and every reader (``otelytics.analysis``) relies on them. Rules: one flat row per
span / metric point / log record; snake_case columns; timestamps ``timestamp[us, UTC]``; ids as
lower-case hex; attributes that analysis groups by are *promoted* to typed columns (and not
repeated in the ``attributes`` map); every file carries every column; columns are only ever
added, never retyped or removed; ``SCHEMA_VERSION`` goes up by one when a column is added.
``docs/schema.md`` is generated from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from otelytics.semconv import attributes as A

__all__ = [
    "LOG_SCHEMA",
    "METADATA_KEY",
    "METRIC_SCHEMA",
    "PROMOTED_SPAN_ATTRIBUTES",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "SPAN_SCHEMA",
    "Promoted",
    "schema_for",
]

SCHEMA_VERSION = 1
"""Goes up by one with every added column; stored in each file's key-value metadata."""

METADATA_KEY = b"otelytics.schema_version"

_TS = pa.timestamp("us", tz="UTC")
_STR_MAP = pa.map_(pa.string(), pa.string())


def _f(name: str, typ: pa.DataType, doc: str, *, dictionary: bool = False) -> pa.Field:
    meta = {b"doc": doc.encode()}
    if dictionary:
        meta[b"dictionary"] = b"1"
    return pa.field(name, typ, nullable=True, metadata=meta)


@dataclass(frozen=True, slots=True)
class Promoted:
    """An attribute stored in its own typed column instead of the ``attributes`` map."""

    column: str
    attribute: str
    type: pa.DataType


PROMOTED_SPAN_ATTRIBUTES: tuple[Promoted, ...] = (
    Promoted("error_type", A.ERROR_TYPE, pa.string()),
    Promoted("session_id", A.SESSION_ID, pa.string()),
    Promoted("user_id", A.USER_ID, pa.string()),
    Promoted("span_type", A.OTELYTICS_SPAN_TYPE, pa.string()),
    Promoted("estimator_name", A.OTELYTICS_ESTIMATOR_NAME, pa.string()),
    Promoted("estimator_data_length", A.OTELYTICS_ESTIMATOR_DATA_LENGTH, pa.int64()),
    Promoted("workflow_name", A.OTELYTICS_WORKFLOW_NAME, pa.string()),
    Promoted("workflow_step", A.OTELYTICS_WORKFLOW_STEP, pa.string()),
    Promoted("cpu_time_s", A.OTELYTICS_PROCESS_CPU_TIME, pa.float64()),
    Promoted("memory_rss_delta_bytes", A.OTELYTICS_PROCESS_MEMORY_RSS_DELTA, pa.int64()),
    Promoted("memory_peak_bytes", A.OTELYTICS_PROCESS_MEMORY_PEAK, pa.int64()),
    Promoted("gen_ai_operation_name", A.GEN_AI_OPERATION_NAME, pa.string()),
    Promoted("gen_ai_provider_name", A.GEN_AI_PROVIDER_NAME, pa.string()),
    Promoted("gen_ai_request_model", A.GEN_AI_REQUEST_MODEL, pa.string()),
    Promoted("gen_ai_response_model", A.GEN_AI_RESPONSE_MODEL, pa.string()),
    Promoted("gen_ai_input_tokens", A.GEN_AI_USAGE_INPUT_TOKENS, pa.int64()),
    Promoted("gen_ai_output_tokens", A.GEN_AI_USAGE_OUTPUT_TOKENS, pa.int64()),
    Promoted("gen_ai_cache_read_tokens", A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, pa.int64()),
    Promoted("gen_ai_cache_creation_tokens", A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
             pa.int64()),
    Promoted("gen_ai_reasoning_tokens", A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, pa.int64()),
    Promoted("gen_ai_time_to_first_chunk_s", A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, pa.float64()),
    Promoted("cost_usd", A.OTELYTICS_COST_USD, pa.float64()),
    Promoted("cost_source", A.OTELYTICS_COST_SOURCE, pa.string()),
    Promoted("usage_estimated", A.OTELYTICS_USAGE_ESTIMATED, pa.bool_()),
    Promoted("request_fingerprint", A.OTELYTICS_REQUEST_FINGERPRINT, pa.string()),
)
"""Span attributes promoted to typed columns. ``gen_ai.usage.cache_write.input_tokens`` (the
spelling some producers use) is folded into ``gen_ai_cache_creation_tokens`` by writers."""

_LOW_CARDINALITY = {
    "error_type", "span_type", "workflow_name", "workflow_step", "gen_ai_operation_name",
    "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model", "cost_source",
}

_EVENT = pa.struct([
    pa.field("time", _TS),
    pa.field("name", pa.string()),
    pa.field("attributes", _STR_MAP),
])
_LINK = pa.struct([
    pa.field("trace_id", pa.string()),
    pa.field("span_id", pa.string()),
    pa.field("attributes", _STR_MAP),
])

SPAN_SCHEMA = pa.schema(
    [
        _f("trace_id", pa.string(), "32 hex digits"),
        _f("span_id", pa.string(), "16 hex digits"),
        _f("parent_span_id", pa.string(), "16 hex digits; null for a root span"),
        _f("trace_state", pa.string(), "W3C tracestate header value"),
        _f("name", pa.string(), "span name", dictionary=True),
        _f("kind", pa.string(), "INTERNAL, SERVER, CLIENT, PRODUCER or CONSUMER", dictionary=True),
        _f("start_time", _TS, "start, UTC"),
        _f("end_time", _TS, "end, UTC"),
        _f("duration_us", pa.int64(), "end - start in microseconds"),
        _f("status_code", pa.string(), "UNSET, OK or ERROR", dictionary=True),
        _f("status_message", pa.string(), "status description"),
        _f("service_name", pa.string(), "resource service.name", dictionary=True),
        _f("scope_name", pa.string(), "instrumentation scope name", dictionary=True),
        _f("scope_version", pa.string(), "instrumentation scope version", dictionary=True),
        *[
            _f(p.column, p.type, f"attribute `{p.attribute}`",
               dictionary=p.column in _LOW_CARDINALITY)
            for p in PROMOTED_SPAN_ATTRIBUTES
        ],
        _f("attributes", _STR_MAP, "remaining span attributes; non-strings JSON-encoded"),
        _f("resource_attributes", _STR_MAP, "resource attributes; non-strings JSON-encoded"),
        _f("events", pa.list_(_EVENT), "span events (exceptions among them)"),
        _f("links", pa.list_(_LINK), "span links"),
        _f("dropped_attributes_count", pa.int32(), "attributes the SDK dropped"),
        _f("dropped_events_count", pa.int32(), "events the SDK dropped"),
        _f("dropped_links_count", pa.int32(), "links the SDK dropped"),
    ],
    metadata={METADATA_KEY: str(SCHEMA_VERSION).encode(), b"otelytics.signal": b"spans"},
)

_QUANTILE = pa.struct([pa.field("quantile", pa.float64()), pa.field("value", pa.float64())])

METRIC_SCHEMA = pa.schema(
    [
        _f("time", _TS, "point time, UTC"),
        _f("start_time", _TS, "start of the aggregation interval (sums, histograms)"),
        _f("service_name", pa.string(), "resource service.name", dictionary=True),
        _f("scope_name", pa.string(), "instrumentation scope name", dictionary=True),
        _f("scope_version", pa.string(), "instrumentation scope version", dictionary=True),
        _f("metric_name", pa.string(), "instrument name", dictionary=True),
        _f("description", pa.string(), "instrument description", dictionary=True),
        _f("unit", pa.string(), "UCUM unit", dictionary=True),
        _f("metric_type", pa.string(),
           "sum, gauge, histogram, exponential_histogram or summary", dictionary=True),
        _f("temporality", pa.string(), "delta, cumulative or unspecified", dictionary=True),
        _f("is_monotonic", pa.bool_(), "sums only"),
        _f("attributes", _STR_MAP, "point attributes; non-strings JSON-encoded"),
        _f("resource_attributes", _STR_MAP, "resource attributes; non-strings JSON-encoded"),
        _f("value_double", pa.float64(), "sum / gauge value (double points)"),
        _f("value_int", pa.int64(), "sum / gauge value (integer points)"),
        _f("count", pa.int64(), "histogram / summary count"),
        _f("sum", pa.float64(), "histogram / summary sum"),
        _f("min", pa.float64(), "histogram min"),
        _f("max", pa.float64(), "histogram max"),
        _f("bucket_bounds", pa.list_(pa.float64()), "explicit histogram bounds"),
        _f("bucket_counts", pa.list_(pa.int64()), "explicit histogram counts (bounds + 1)"),
        _f("exp_scale", pa.int32(), "exponential histogram scale"),
        _f("exp_zero_count", pa.int64(), "exponential histogram zero count"),
        _f("exp_positive_offset", pa.int32(), "exponential histogram positive offset"),
        _f("exp_positive_counts", pa.list_(pa.int64()), "exponential histogram positive counts"),
        _f("exp_negative_offset", pa.int32(), "exponential histogram negative offset"),
        _f("exp_negative_counts", pa.list_(pa.int64()), "exponential histogram negative counts"),
        _f("quantiles", pa.list_(_QUANTILE), "summary quantile values"),
    ],
    metadata={METADATA_KEY: str(SCHEMA_VERSION).encode(), b"otelytics.signal": b"metrics"},
)

LOG_SCHEMA = pa.schema(
    [
        _f("time", _TS, "event time, UTC (observed time when the producer gave none)"),
        _f("observed_time", _TS, "when the record was observed, UTC"),
        _f("trace_id", pa.string(), "32 hex digits, when logged inside a span"),
        _f("span_id", pa.string(), "16 hex digits, when logged inside a span"),
        _f("trace_flags", pa.int32(), "W3C trace flags"),
        _f("severity_number", pa.int32(), "1-24"),
        _f("severity_text", pa.string(), "as the producer spelled it", dictionary=True),
        _f("body", pa.string(), "the body; non-strings JSON-encoded"),
        _f("event_name", pa.string(), "event name, when the record is an event",
           dictionary=True),
        _f("service_name", pa.string(), "resource service.name", dictionary=True),
        _f("scope_name", pa.string(), "instrumentation scope name", dictionary=True),
        _f("scope_version", pa.string(), "instrumentation scope version", dictionary=True),
        _f("attributes", _STR_MAP, "record attributes; non-strings JSON-encoded"),
        _f("resource_attributes", _STR_MAP, "resource attributes; non-strings JSON-encoded"),
        _f("dropped_attributes_count", pa.int32(), "attributes the SDK dropped"),
    ],
    metadata={METADATA_KEY: str(SCHEMA_VERSION).encode(), b"otelytics.signal": b"logs"},
)

SCHEMAS: dict[str, pa.Schema] = {"spans": SPAN_SCHEMA, "metrics": METRIC_SCHEMA, "logs": LOG_SCHEMA}
"""Signal folder name -> schema."""


def schema_for(signal: str) -> pa.Schema:
    """The schema of ``signal`` (``spans``, ``metrics`` or ``logs``); ValueError otherwise."""
    try:
        return SCHEMAS[signal]
    except KeyError:
        raise ValueError(f"unknown signal {signal!r}; expected one of {sorted(SCHEMAS)}") from None


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns written with dictionary encoding (low cardinality only)."""
    return [f.name for f in schema if f.metadata and f.metadata.get(b"dictionary") == b"1"]
