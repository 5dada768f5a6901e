"""Report data models: frozen dataclasses holding scalars and :class:`Table` values.

Reports return these; renderers (terminal, Markdown, HTML, JSON) read them and never query the
dataset themselves. A :class:`Table` is a small named result set with ``to_arrow()`` /
``to_pandas()`` for notebooks; a :class:`Section` groups the figures of one report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = ["Report", "Section", "Table", "plain", "pylist", "values"]


def plain(value: Any) -> Any:
    """A JSON-friendly scalar: floats kept (NaN -> None), dates as ISO strings."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "as_py"):
        return plain(value.as_py())
    return value


def values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """``column.to_pylist()``, except that time-zone-aware timestamps are converted without
    pyarrow's time-zone path, which imports pandas (~0.2 s of a report): the instants are
    the same, returned as UTC datetimes."""
    t = column.type
    if pa.types.is_timestamp(t) and t.tz is not None:
        naive = column.cast(pa.timestamp(t.unit)).to_pylist()
        return [None if v is None else v.replace(tzinfo=dt.UTC) for v in naive]
    return column.to_pylist()


def pylist(table: pa.Table) -> list[dict[str, Any]]:
    """``table.to_pylist()`` through :func:`values`."""
    cols = {c: values(table.column(c)) for c in table.column_names}
    return [dict(zip(cols, r, strict=True)) for r in zip(*cols.values(), strict=True)]


@dataclass(frozen=True, slots=True)
class Table:
    """A named table: column names, rows as tuples, and a one-line description."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    description: str = ""

    @classmethod
    def from_arrow(cls, name: str, table: pa.Table, description: str = "") -> Table:
        cols = tuple(table.column_names)
        data = [values(table.column(c)) for c in cols]
        rows = tuple(tuple(plain(v) for v in r) for r in zip(*data, strict=True)) if cols else ()
        return cls(name, cols, rows, description)

    def __len__(self) -> int:
        return len(self.rows)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts (the JSON form)."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def to_arrow(self) -> pa.Table:
        """The table as pyarrow (types inferred from the values)."""
        return pa.table({c: pa.array(self.column(c)) for c in self.columns})

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame."""
        return self.to_arrow().to_pandas()


@dataclass(frozen=True, slots=True)
class Section:
    """One report: its scalar figures (ordered) and its tables."""

    name: str
    title: str
    figures: dict[str, Any] = field(default_factory=dict)
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"section {self.name} has no table {name!r}; "
                       f"tables: {', '.join(t.name for t in self.tables)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "figures": {k: plain(v) for k, v in self.figures.items()},
            "tables": {t.name: {"description": t.description, "columns": list(t.columns),
                                "rows": t.records()} for t in self.tables},
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """A full report: where it came from and its sections, in order."""

    root: str
    window: dict[str, str | None]
    filters: dict[str, Any]
    group_by: str | None
    generated_at: dt.datetime
    files: dict[str, int]
    skipped_files: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    kind: str = "report"

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(f"no section {name!r}")

    def tables(self) -> dict[str, Table]:
        """Every table, keyed ``section.table`` (what ``otelytics export`` offers)."""
        return {f"{s.name}.{t.name}": t for s in self.sections for t in s.tables}

    def replace(self, **changes: Any) -> Report:
        return dataclasses.replace(self, **changes)
