"""Exporter options: keyword arguments, then ``OTELYTICS_*`` variables, then defaults.

The exporters are built with no arguments by ``opentelemetry-instrument`` (entry points), so
every option has a variable. A bad variable must not stop the app: it is reported once, naming
the variable, and the default is used; a bad keyword argument is a programming error and raises.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from otelytics.exporter import writer as W

__all__ = ["DEFAULT_DATA_DIR", "ENV", "ExporterOptions", "resolve_options"]

_log = logging.getLogger("otelytics")

DEFAULT_DATA_DIR = "./otelytics-data"


@dataclass(frozen=True, slots=True)
class ExporterOptions:
    """Where and how an exporter writes; field docs name the variable."""

    root: str = DEFAULT_DATA_DIR
    """OTELYTICS_DATA_DIR: dataset root, a directory or ``s3://bucket/prefix?...``."""
    max_rows: int = W.DEFAULT_MAX_ROWS
    """OTELYTICS_FILE_MAX_ROWS: rows per file before it is rolled."""
    max_bytes: int = W.DEFAULT_MAX_BYTES
    """OTELYTICS_FILE_MAX_BYTES: Parquet bytes per file before it is rolled."""
    max_age_s: float = W.DEFAULT_MAX_AGE_S
    """OTELYTICS_FILE_MAX_AGE: seconds from a file's first row to its publication."""
    row_group_rows: int = W.DEFAULT_ROW_GROUP_ROWS
    """OTELYTICS_ROW_GROUP_ROWS: rows per Parquet row group."""
    max_buffer_bytes: int = W.DEFAULT_MAX_BUFFER_BYTES
    """OTELYTICS_BUFFER_MAX_BYTES: memory for rows not yet written; beyond it rows are dropped."""

    def writer_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "root"}


def _positive_int(raw: str) -> int:
    v = int(raw)
    if v <= 0:
        raise ValueError("expected a positive integer")
    return v


def _positive_float(raw: str) -> float:
    v = float(raw)
    if not v > 0:
        raise ValueError("expected a positive number")
    return v


def _non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("expected a non-empty value")
    return raw.strip()


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "root": ("OTELYTICS_DATA_DIR", _non_empty),
    "max_rows": ("OTELYTICS_FILE_MAX_ROWS", _positive_int),
    "max_bytes": ("OTELYTICS_FILE_MAX_BYTES", _positive_int),
    "max_age_s": ("OTELYTICS_FILE_MAX_AGE", _positive_float),
    "row_group_rows": ("OTELYTICS_ROW_GROUP_ROWS", _positive_int),
    "max_buffer_bytes": ("OTELYTICS_BUFFER_MAX_BYTES", _positive_int),
}
"""option -> (variable, parser)."""

_reported: set[tuple[str, str]] = set()


def resolve_options(**kwargs: Any) -> ExporterOptions:
    """Keyword arguments (``None`` = not given) over variables over defaults."""
    values: dict[str, Any] = {}
    for name, (var, parse) in ENV.items():
        given = kwargs.pop(name, None)
        if given is not None:
            try:
                values[name] = parse(os.fspath(given) if name == "root" else str(given))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}={given!r}: {exc}") from None
            continue
        raw = os.environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            if (var, raw) not in _reported:
                _reported.add((var, raw))
                _log.warning("otelytics: ignoring %s=%r (%s); using the default", var, raw, exc)
    if kwargs:
        raise TypeError(f"unknown exporter option(s): {', '.join(sorted(kwargs))}")
    return ExporterOptions(**values)
