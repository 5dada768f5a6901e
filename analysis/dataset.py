"""Open an otelytics dataset for analysis: DuckDB views over the published Parquet files.

``open_dataset(root, window=..., filters=...)`` lists the published files of the partitions the
window touches (partition pruning by day, done here so that an empty or partly empty dataset
still works), and exposes them as DuckDB views ``spans``, ``metrics`` and ``logs`` restricted to
the window and filters. Files of older schema versions are read with ``union_by_name`` and the
columns they lack are added as NULL, so every view has every column of the current schema.
A local path or an object-store URI (``s3://bucket/prefix``, read through ``pyarrow.fs``) works.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from otelytics.exporter.layout import SIGNALS, STAGING
from otelytics.exporter.schema import SCHEMAS
from otelytics.exporter.tools import COMPACTED_FROM_KEY

__all__ = ["Dataset", "DatasetError", "Filters", "Window", "open_dataset", "parse_duration"]


class DatasetError(Exception):
    """The dataset cannot be opened or read; the message says what and where."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` -> timedelta; ValueError otherwise."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"invalid duration {text!r}; use a number and s, m, h, d or w, e.g. 30d")
    return dt.timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def _utc(value: dt.datetime | dt.date | str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"invalid time {value!r}; use ISO 8601, e.g. 2026-11-01 "
                             "or 2026-11-01T12:00") from None
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window ``[start, end)`` on span start time (UTC); None = unbounded."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @classmethod
    def of(cls, since: str | dt.timedelta | None = None,
           start: dt.datetime | dt.date | str | None = None,
           end: dt.datetime | dt.date | str | None = None,
           now: dt.datetime | None = None) -> Window:
        """From ``--since 30d`` or ``--from/--to`` (not both since and from)."""
        if since is not None and start is not None:
            raise ValueError("give either since or a start time, not both")
        end_t = _utc(end) if end is not None else None
        if since is not None:
            delta = parse_duration(since) if isinstance(since, str) else since
            anchor = end_t or (now or dt.datetime.now(dt.UTC))
            return cls(_utc(anchor) - delta, end_t)
        start_t = _utc(start) if start is not None else None
        if start_t and end_t and start_t >= end_t:
            raise ValueError(f"empty window: from {start_t:%Y-%m-%d %H:%M} is not before "
                             f"to {end_t:%Y-%m-%d %H:%M}")
        return cls(start_t, end_t)

    def days(self) -> tuple[str | None, str | None]:
        """First and last ``dt=`` partition the window touches."""
        first = self.start.strftime("%Y-%m-%d") if self.start else None
        last = None
        if self.end:
            last = (self.end - dt.timedelta(microseconds=1)).strftime("%Y-%m-%d")
        return first, last


_FILTER_COLUMNS = {
    "service": "service_name",
    "operation": "name",
    "model": "gen_ai_request_model",
    "provider": "gen_ai_provider_name",
    "workflow": "workflow_name",
    "session": "session_id",
    "user": "user_id",
    "estimator": "estimator_name",
}


@dataclass(frozen=True, slots=True)
class Filters:
    """Span filters; each set field must match exactly. ``attributes`` matches any attribute
    key (promoted column or map entry) to a string value."""

    service: str | None = None
    operation: str | None = None
    model: str | None = None
    provider: str | None = None
    workflow: str | None = None
    session: str | None = None
    user: str | None = None
    estimator: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, pairs: list[str], **fields: str | None) -> Filters:
        """``["key=value", ...]`` attribute filters plus the named fields."""
        attrs: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise ValueError(f"invalid filter {pair!r}; use key=value")
            attrs[key.strip()] = value
        return cls(**fields, attributes=attrs)

    def sql(self) -> tuple[str, list[Any]]:
        """A WHERE fragment over the spans view and its parameters."""
        from otelytics.exporter.schema import PROMOTED_SPAN_ATTRIBUTES

        promoted = {p.attribute: p.column for p in PROMOTED_SPAN_ATTRIBUTES}
        clauses: list[str] = []
        params: list[Any] = []
        for name, column in _FILTER_COLUMNS.items():
            value = getattr(self, name)
            if value is not None:
                if name == "model":
                    clauses.append("(gen_ai_request_model = ? OR gen_ai_response_model = ?)")
                    params += [value, value]
                else:
                    clauses.append(f"{column} = ?")
                    params.append(value)
        for key, value in self.attributes.items():
            if key in promoted:
                clauses.append(f"CAST({promoted[key]} AS VARCHAR) = ?")
                params.append(value)
            elif key.startswith("resource."):
                clauses.append("resource_attributes[?] = ?")
                params += [key.removeprefix("resource."), value]
            else:
                clauses.append("attributes[?] = ?")
                params += [key, value]
        return (" AND ".join(clauses) or "TRUE"), params


def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    if "://" in root:
        try:
            return pafs.FileSystem.from_uri(root)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetError(f"cannot open {root}: {exc}") from None
    return pafs.LocalFileSystem(), str(root)


@dataclass
class Dataset:
    """An opened dataset: file lists per signal and a DuckDB connection with the views."""

    root: str
    window: Window
    filters: Filters
    files: dict[str, list[str]]
    _filesystem: pafs.FileSystem
    _local: bool
    _con: Any = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Files left out because they are corrupt or not otelytics files: (path, reason)."""
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    """Per-dataset memo for report engines (one core scan per dataset)."""
    _thread: threading.local = field(default_factory=threading.local, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def con(self) -> Any:
        """The DuckDB connection holding the ``spans``, ``metrics`` and ``logs`` views (in a
        thread inside :meth:`cursor`, that thread's own cursor on the same database)."""
        cur = getattr(self._thread, "con", None)
        if cur is not None:
            return cur
        with self._lock:
            if self._con is None:
                self._con = self._connect()
        return self._con

    @property
    def concurrent(self) -> bool:
        """Whether queries may run from several threads (each through :meth:`cursor`): not
        over an object store, whose Arrow dataset is registered on the main connection only
        (other cursors cannot see it)."""
        return self._local

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        """Give the calling thread its own DuckDB cursor on this dataset's database for the
        ``with`` block; ``con`` and ``sql`` use it. DuckDB runs queries of different cursors
        at the same time (it releases the GIL)."""
        cur = self.con.cursor()
        cur.execute("SET enable_progress_bar = false")
        self._thread.con = cur
        try:
            yield cur
        finally:
            self._thread.con = None
            cur.close()

    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """Run ``query`` over the views and return an Arrow table."""
        rel = self.con.sql(query, params=params or None)
        if rel is None:  # a statement that returns no rows
            return pa.table({})
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
        return fetch()

    def _source(self, signal: str) -> str:
        schema = SCHEMAS[signal]
        files = self.files[signal]
        if not files:  # typed NULL columns, no row (registering an empty Arrow table would
            # import pandas, ~0.2 s, and be invisible to other cursors)
            cols = ", ".join(f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"' for f in schema)
            return f"(SELECT {cols} LIMIT 0)"
        if self._local:
            quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            return f"read_parquet([{quoted}], union_by_name = true, hive_partitioning = false)"
        import pyarrow.dataset as pads

        ds = pads.dataset(files, schema=schema, format="parquet", filesystem=self._filesystem)
        self.con_raw.register(f"_arrow_{signal}", ds)
        return f"_arrow_{signal}"

    def _connect(self) -> Any:
        try:
            import duckdb
        except ImportError:
            raise DatasetError("analysis needs duckdb: pip install 'otelytics[analysis]'") from None
        self.con_raw = duckdb.connect()
        con = self.con_raw
        where, params = self.filters.sql()
        time_sql, time_params = [], []
        if self.window.start:
            time_sql.append("{t} >= ?")
            time_params.append(self.window.start)
        if self.window.end:
            time_sql.append("{t} < ?")
            time_params.append(self.window.end)
        for signal, time_col in (("spans", "start_time"), ("metrics", "time"), ("logs", "time")):
            schema = SCHEMAS[signal]
            raw = f"_raw_{signal}"
            con.execute(f"CREATE VIEW {raw} AS SELECT * FROM {self._source(signal)}")
            present = {r[0] for r in con.execute(f"DESCRIBE {raw}").fetchall()}
            select = ", ".join(
                f'"{f.name}"' if f.name in present
                else f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"'
                for f in schema
            )
            conds = [c.format(t=time_col) for c in time_sql]
            if signal == "spans" and where != "TRUE":
                conds.append(where)
            sql = f"CREATE VIEW {signal} AS SELECT {select} FROM {raw}"
            if conds:
                sql += " WHERE " + " AND ".join(conds)
            p = list(time_params) + (params if signal == "spans" else [])
            # DuckDB views cannot hold parameters: inline them as typed literals.
            con.execute(sql.replace("?", "{}").format(*(_literal(v) for v in p)))
        return con

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def _literal(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


_SIMPLE_TYPES = {pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.int64(): "BIGINT",
                 pa.int32(): "INTEGER", pa.int16(): "SMALLINT", pa.int8(): "TINYINT",
                 pa.float64(): "DOUBLE", pa.float32(): "FLOAT", pa.bool_(): "BOOLEAN",
                 pa.binary(): "BLOB", pa.date32(): "DATE",
                 pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
                 pa.timestamp("us"): "TIMESTAMP"}


@functools.lru_cache(maxsize=256)
def _duck_type(t: pa.DataType) -> str:
    """The DuckDB SQL type of an Arrow type, for the NULL columns older files lack. The
    schema's types are spelled here: asking DuckDB (``duckdb.from_arrow``) imports pandas,
    ~0.2 s of every report's start (docs/analysis.md)."""
    if t in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t]
    if pa.types.is_map(t):
        return f"MAP({_duck_type(t.key_type)}, {_duck_type(t.item_type)})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"{_duck_type(t.value_type)}[]"
    if pa.types.is_struct(t):
        fields = ", ".join('"' + t.field(i).name.replace('"', '""') + '" '
                           + _duck_type(t.field(i).type) for i in range(t.num_fields))
        return f"STRUCT({fields})"
    import duckdb

    return str(duckdb.from_arrow(pa.table({"x": pa.array([], t)})).types[0])


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_day(text: str) -> bool:
    if not _DAY.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _list_files(fs: pafs.FileSystem, base: str, signal: str, window: Window,
                skipped: list[tuple[str, str]]) -> Iterator[list[str]]:
    """The Parquet files of each ``dt=YYYY-MM-DD`` partition the window touches, one list per
    partition. Files in any other folder (``dt=garbage``, ``dt=2026-13-01``, a copy) are
    added to ``skipped``: counted and named, never read."""
    first, last = window.days()
    sel = pafs.FileSelector(f"{base.rstrip('/')}/{signal}", allow_not_found=True)
    for info in sorted(fs.get_file_info(sel), key=lambda i: i.path):
        if info.type != pafs.FileType.Directory or info.base_name == STAGING:
            continue
        day = info.base_name.removeprefix("dt=")
        valid = info.base_name.startswith("dt=") and _is_day(day)
        if valid and ((first and day < first) or (last and day > last)):
            continue
        names = sorted(f.path for f in fs.get_file_info(pafs.FileSelector(info.path))
                       if f.type == pafs.FileType.File and f.base_name.endswith(".parquet"))
        if valid:
            yield names
        else:
            skipped += [(n, f"not in a dt=YYYY-MM-DD partition ({info.base_name})")
                        for n in names]


def open_dataset(root: str | Any, *, window: Window | None = None,
                 filters: Filters | None = None) -> Dataset:
    """Open the dataset at ``root`` (path or ``s3://`` URI) for the window and filters.

    A compacted file names the files it replaces in its footer (``otelytics.compacted_from``);
    while those still exist (between compaction's publish and delete, or after a crash there)
    they are skipped as already merged, so no row is counted twice."""
    root = str(root)
    fs, base = _filesystem(root)
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        raise DatasetError(f"no dataset at {root}: the folder does not exist")
    window = window or Window()
    files: dict[str, list[str]] = {}
    skipped: list[tuple[str, str]] = []
    for signal in SIGNALS:
        good = []
        for partition in _list_files(fs, base, signal, window, skipped):
            checked = [(path, *_check_file(fs, path, signal)) for path in partition]
            replaced = {name: path.rsplit("/", 1)[-1] for path, problem, merged in checked
                        if not problem for name in merged}
            for path, problem, _ in checked:
                name = path.rsplit("/", 1)[-1]
                if problem:
                    skipped.append((path, problem))
                elif name in replaced:
                    skipped.append((path, f"already merged into {replaced[name]} "
                                          "(compaction in progress or interrupted)"))
                else:
                    good.append(path)
        files[signal] = good
    assert STAGING not in files
    return Dataset(root, window, filters or Filters(), files, fs,
                   isinstance(fs, pafs.LocalFileSystem), skipped=skipped)


_REQUIRED = {"spans": ("trace_id", "span_id", "name", "start_time", "duration_us"),
             "metrics": ("time", "metric_name"), "logs": ("time",)}


def _check_file(fs: pafs.FileSystem, path: str, signal: str
                ) -> tuple[str | None, tuple[str, ...]]:
    """Why ``path`` cannot be read as a ``signal`` file (None when it can), and the names of
    the files it was compacted from (from the footer already read).

    Reads only the footer: a truncated or non-Parquet file fails here instead of failing the
    whole query later; a Parquet file of someone else's schema (missing the key columns or
    with a retyped column) is reported as foreign."""
    import pyarrow.parquet as pq

    try:
        with fs.open_input_file(path) as f:
            file_schema = pq.read_schema(f)
    except Exception as exc:  # any unreadable footer means corrupt
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"corrupt Parquet file ({first})", ()
    missing = [c for c in _REQUIRED[signal] if c not in file_schema.names]
    if missing:
        return f"not an otelytics {signal} file (no column {', '.join(missing)})", ()
    expected = SCHEMAS[signal]
    for fld in file_schema:
        if fld.name in expected.names:
            want = expected.field(fld.name).type
            if _kind(fld.type) != _kind(want):
                return (f"not an otelytics {signal} file (column {fld.name} is {fld.type}, "
                        f"expected {want})"), ()
    return None, _compacted_from(file_schema.metadata or {})


def _compacted_from(meta: Mapping[bytes, bytes]) -> tuple[str, ...]:
    raw = meta.get(COMPACTED_FROM_KEY)
    if not raw:
        return ()
    try:
        names = json.loads(raw)
    except ValueError:
        return ()
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def _kind(t: pa.DataType) -> str:
    """A coarse type family: files written with a compatible physical type still read."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    for kind, test in (("string", pa.types.is_string), ("string", pa.types.is_large_string),
                       ("int", pa.types.is_integer), ("float", pa.types.is_floating),
                       ("time", pa.types.is_timestamp), ("bool", pa.types.is_boolean),
                       ("map", pa.types.is_map), ("list", pa.types.is_list)):
        if test(t):
            return kind
    return str(t)
