"""Assemble a full report: run the chosen sections over one opened dataset.

``build_report(ds, sections=..., group_by=...)`` calls each section function in turn (they
share one materialised scan, see ``engine.py``) and returns a :class:`Report` that the
renderers turn into terminal text, Markdown, HTML or JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from otelytics.analysis import cost as _cost
from otelytics.analysis import reports as _reports
from otelytics.analysis import trends as _trends
from otelytics.analysis import workflows as _workflows
from otelytics.analysis.dataset import Dataset
from otelytics.analysis.models import Report, Section

__all__ = ["SECTIONS", "build_report", "describe_window"]

SECTIONS: dict[str, Callable[..., Section]] = {
    "summary": _reports.summary,
    "usage": _reports.usage,
    "performance": _reports.performance,
    "reliability": _reports.reliability,
    "workflows": _workflows.workflows,
    "sessions": _workflows.sessions,
    "cost": _cost.cost,
    "trends": _trends.trends,
    "anomalies": _trends.anomalies,
}
"""Section name -> report function, in report order."""

WORKERS = 2
"""Sections run at the same time by :func:`build_report` (1 = one after another)."""


def describe_window(ds: Dataset) -> dict[str, str | None]:
    def iso(t: dt.datetime | None) -> str | None:
        return t.isoformat().replace("+00:00", "Z") if t else None
    return {"from": iso(ds.window.start), "to": iso(ds.window.end)}


def build_report(ds: Dataset, sections: Sequence[str] | None = None, *,
                 group_by: str | None = None, what_if_model: str | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 now: dt.datetime | None = None) -> Report:
    """Run ``sections`` (default: all) over ``ds``; ``progress(i, n, name)`` before each."""
    names = list(sections or SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    def run(name: str) -> Section:
        kwargs: dict[str, Any] = {"group_by": group_by}
        if name == "cost":
            kwargs["what_if_model"] = what_if_model
        if not threaded:
            return SECTIONS[name](ds, **kwargs)
        with ds.cursor():
            return SECTIONS[name](ds, **kwargs)

    from otelytics.analysis.engine import Engine

    Engine.of(ds, group_by).planned = frozenset(names)
    out: list[Section] = []
    workers = min(WORKERS, len(names))
    threaded = workers > 1 and ds.concurrent
    if not threaded:
        for i, name in enumerate(names):
            if progress:
                progress(i, len(names), name)
            out.append(run(name))
    else:
        # sections run concurrently, each on its own DuckDB cursor: DuckDB releases the GIL,
        # so one query's single-threaded phases (finalising quantiles, sorting, Arrow and
        # Python conversion) overlap another's scan. Results are collected in report order;
        # the shared aggregates are built once (engine.py). Measured in docs/analysis.md.
        with ThreadPoolExecutor(workers, thread_name_prefix="otelytics-report") as pool:
            futures = [pool.submit(run, name) for name in names]
            for i, (name, fut) in enumerate(zip(names, futures, strict=True)):
                if progress:
                    progress(i, len(names), name)
                out.append(fut.result())
    if progress:
        progress(len(names), len(names), "done")
    filters = {k: v for k, v in asdict(ds.filters).items() if v}
    return Report(
        root=ds.root, window=describe_window(ds), filters=filters, group_by=group_by,
        generated_at=now or dt.datetime.now(dt.UTC).replace(microsecond=0),
        files={s: len(f) for s, f in ds.files.items()},
        skipped_files=tuple(ds.skipped), sections=tuple(out))
