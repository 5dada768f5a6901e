"""JSON renderer: the report as a documented, versioned document (docs/analysis.md).

``schema_version`` goes up by one on any incompatible change (a renamed or removed key or
column, a changed unit); adding sections, figures, tables or columns does not change it, so
consumers must ignore keys they do not know.
"""

from __future__ import annotations

import json
from typing import Any

from otelytics.analysis.models import Report, plain

__all__ = ["JSON_SCHEMA_VERSION", "render_json", "report_dict"]

JSON_SCHEMA_VERSION = 1


def report_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "kind": report.kind,
        "generated_at": plain(report.generated_at),
        "root": report.root,
        "window": report.window,
        "filters": {k: plain(v) if not isinstance(v, dict) else v
                    for k, v in report.filters.items()},
        "group_by": report.group_by,
        "files": report.files,
        "skipped_files": [{"path": p, "reason": r} for p, r in report.skipped_files],
        "sections": {s.name: s.to_dict() for s in report.sections},
    }


def render_json(report: Report, *, indent: int | None = 2) -> str:
    return json.dumps(report_dict(report), indent=indent, default=str) + "\n"
