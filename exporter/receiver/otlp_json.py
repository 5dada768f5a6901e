"""OTLP/JSON bodies -> protobuf requests, with the spec's deviations from proto3 JSON.

``google.protobuf.json_format`` reads ``bytes`` fields as base64, but OTLP/JSON carries trace and
span ids as hex. The ids are rewritten to base64 before parsing; an id that is not valid hex
becomes a 1-byte id, so validation rejects the item (partial success) instead of the request.
Unknown fields are ignored, as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format

from otelytics.exporter.receiver.decode import REQUEST_TYPES

__all__ = ["JsonError", "parse_json"]

_BAD_ID = base64.b64encode(b"\0").decode()
_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


class JsonError(ValueError):
    """The body is not an OTLP/JSON request of the expected signal."""


def _fix_ids(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if value is None:
            continue
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) else None
        except ValueError:
            raw = None
        obj[key] = _BAD_ID if raw is None else base64.b64encode(raw).decode()


def _items(obj: Any, *keys: str) -> list[Any]:
    """``obj[k1][*][k2][*]...`` over camelCase or snake_case keys; bad shapes give []."""
    level = obj if isinstance(obj, list) else [obj]
    for key in keys:
        nxt: list[Any] = []
        snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
        for o in level:
            if isinstance(o, dict):
                v = o.get(key, o.get(snake))
                if isinstance(v, list):
                    nxt.extend(x for x in v if isinstance(x, dict))
                elif isinstance(v, dict):
                    nxt.append(v)
        level = nxt
    return level


def parse_json(signal: str, body: bytes) -> Any:
    """Parse an OTLP/JSON request of ``signal``; :class:`JsonError` on anything malformed."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise JsonError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise JsonError("the JSON body must be an object")
    if signal == "spans":
        spans = _items(doc, "resourceSpans", "scopeSpans", "spans")
        targets = spans + _items(spans, "links")
    elif signal == "logs":
        targets = _items(doc, "resourceLogs", "scopeLogs", "logRecords")
    else:
        metrics = _items(doc, "resourceMetrics", "scopeMetrics", "metrics")
        targets = []
        for kind in ("sum", "gauge", "histogram", "exponentialHistogram"):
            targets += _items(metrics, kind, "dataPoints", "exemplars")
    for t in targets:
        _fix_ids(t)
    request = REQUEST_TYPES[signal]()
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError,
            binascii.Error) as exc:
        raise JsonError(f"not an OTLP/JSON {signal} request: {exc}") from None
    return request
