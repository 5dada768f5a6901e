"""Datasets with known contents for analysis tests: rows in the exporter schema, written as files.

``span(...)`` returns one row with sane defaults (unique ids, a start time, a duration);
``llm_span(...)`` one GenAI client call; ``write_spans(root, rows)`` writes them into the Hive
layout, one file per day (or ``files_per_day``), the way the exporter lays them out.
Tests compute expected figures from the same rows independently of the code under test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from otelytics.exporter import layout, schema

__all__ = ["BASE_TIME", "llm_span", "span", "write_spans"]

BASE_TIME = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
_ids = itertools.count(1)


def span(name: str = "fit", *, start: dt.datetime | None = None, duration_ms: float = 10.0,
         trace_id: str | None = None, parent_span_id: str | None = None,
         error_type: str | None = None, service: str = "svc", **columns: Any) -> dict[str, Any]:
    """One span row; ``columns`` may set any schema column (``attributes`` as a dict)."""
    n = next(_ids)
    start = start or BASE_TIME + dt.timedelta(seconds=n)
    dur_us = round(duration_ms * 1000)
    row: dict[str, Any] = {
        "trace_id": trace_id or f"{n:032x}",
        "span_id": f"{n:016x}",
        "parent_span_id": parent_span_id,
        "name": name,
        "kind": "INTERNAL",
        "start_time": start,
        "end_time": start + dt.timedelta(microseconds=dur_us),
        "duration_us": dur_us,
        "status_code": "ERROR" if error_type else "UNSET",
        "error_type": error_type,
        "service_name": service,
        "scope_name": "otelytics",
        "span_type": "function",
        "estimator_name": name,
    }
    attrs = columns.pop("attributes", None)
    resource = columns.pop("resource_attributes", None)
    row.update(columns)
    if attrs:
        row["attributes"] = [(k, str(v)) for k, v in attrs.items()]
    row["resource_attributes"] = [("service.name", service),
                                  *((k, str(v)) for k, v in (resource or {}).items())]
    return row


def llm_span(model: str = "gpt-4o-mini", *, provider: str = "openai", operation: str = "chat",
             input_tokens: int = 100, output_tokens: int = 20, cache_read_tokens: int = 0,
             cost_usd: float | None = None, cost_source: str | None = None,
             **kw: Any) -> dict[str, Any]:
    """One GenAI client span (``{operation} {model}``, kind CLIENT)."""
    return span(f"{operation} {model}", kind="CLIENT", scope_name="otelytics.llm",
                span_type=None, estimator_name=None,
                gen_ai_operation_name=operation, gen_ai_provider_name=provider,
                gen_ai_request_model=model, gen_ai_response_model=model,
                gen_ai_input_tokens=input_tokens, gen_ai_output_tokens=output_tokens,
                gen_ai_cache_read_tokens=cache_read_tokens, cost_usd=cost_usd,
                cost_source=cost_source or ("price_table" if cost_usd is not None else "unpriced"),
                **kw)


def write_spans(root: Path | str, rows: list[dict[str, Any]], files_per_day: int = 1) -> list[Path]:
    """Write ``rows`` under ``root/spans/dt=.../`` split by UTC day; returns the file paths."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_day.setdefault(row["start_time"].astimezone(dt.UTC).strftime("%Y-%m-%d"), []).append(row)
    out: list[Path] = []
    for day, day_rows in sorted(by_day.items()):
        folder = Path(root) / layout.partition("spans", day)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(files_per_day):
            chunk = day_rows[i::files_per_day]
            if not chunk:
                continue
            path = folder / layout.file_name(0)
            pq.write_table(pa.Table.from_pylist(chunk, schema=schema.SPAN_SCHEMA), path,
                           compression="zstd")
            out.append(path)
    return out
