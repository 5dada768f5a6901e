"""otelytics.analysis: reads the Parquet dataset; reports, suggestions, comparisons, checks.

The notebook API in one import::

    from otelytics.analysis import open_dataset, Window, build_report, suggest
    ds = open_dataset("otelytics-data", window=Window.of(since="7d"))
    report = build_report(ds)            # typed sections; tables have .to_pandas()
    ds.sql("SELECT name, count(*) FROM spans GROUP BY 1").to_pandas()

Names are resolved lazily so that ``otelytics --version`` does not import DuckDB.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Dataset",
    "DatasetError",
    "Filters",
    "Window",
    "build_report",
    "compare",
    "open_dataset",
    "run_checks",
    "suggest",
]

_HOME = {
    "Dataset": "dataset", "DatasetError": "dataset", "Filters": "dataset", "Window": "dataset",
    "open_dataset": "dataset", "build_report": "report", "compare": "compare",
    "run_checks": "check", "suggest": "suggestions",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'otelytics.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"otelytics.analysis.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
