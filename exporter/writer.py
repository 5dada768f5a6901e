"""The dataset writer: every producer (SDK exporters, OTLP receiver, compaction) writes through it.

Why it looks like this (measurements in docs/exporter.md):

- Rows are buffered in memory and written as *large row groups* into one open file per day
  partition; one file or row group per export batch makes scans 2-5x slower and files 20-30%
  bigger.
- A local file is written under ``<root>/_staging/`` and published by close + ``os.replace``
  into ``<signal>/dt=YYYY-MM-DD/``: readers never see a half-written file (one such file makes
  a whole-dataset DuckDB or polars glob fail). On an object store (``s3://...``) the finished
  file is uploaded with one PUT, which is atomic; it is built in memory until then, so an upload
  that fails can be retried without rewriting.
- ``append`` never touches the disk: a background thread (one per writer) writes row groups and
  rolls files, so a request thread never waits on I/O. ``flush`` and ``close`` do the I/O in the
  caller, as their callers expect.
- Memory is bounded by ``max_buffer_bytes`` of rows not yet written; beyond it ``append`` raises
  :class:`BufferFull` and the caller decides (the exporters drop and count, the receiver answers
  "retry later").
- Write failures (unwritable root, full disk, object store down) are retried with backoff; rows
  lost in a broken file, or still unwritten at ``close``, are counted as dropped and warned once.
- Fork-safe: a forked child starts empty and never writes into the parent's open files.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from otelytics.exporter import _selfmetrics
from otelytics.exporter.layout import SIGNALS, STAGING, file_name, partition
from otelytics.exporter.schema import dictionary_columns, schema_for
from otelytics.semconv import attributes as A

__all__ = [
    "DEFAULT_MAX_AGE_S",
    "DEFAULT_MAX_BUFFER_BYTES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_ROW_GROUP_ROWS",
    "TIME_COLUMNS",
    "BufferFull",
    "DatasetWriter",
    "WriterClosed",
    "WriterStats",
    "conform",
    "flush_all",
    "open_root",
    "write_file",
]

_log = logging.getLogger("otelytics")

DEFAULT_MAX_ROWS = 1_000_000
"""Rows per file before it is rolled (about 50 MB of spans)."""
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
"""Parquet bytes per file before it is rolled."""
DEFAULT_MAX_AGE_S = 300.0
"""Seconds from a file's first row to its publication: bounds visibility lag and crash loss."""
DEFAULT_ROW_GROUP_ROWS = 128 * 1024
"""Rows per row group (DuckDB parallelises per row group; 100k-1M rows is its sweet spot)."""
DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024
"""Arrow bytes of accepted but unwritten rows before ``append`` raises :class:`BufferFull`."""

TIME_COLUMNS: dict[str, str] = {"spans": "start_time", "metrics": "time", "logs": "time"}
"""The column whose UTC day picks a row's ``dt=`` partition."""

_US_PER_DAY = 86_400_000_000
_EPOCH = _dt.date(1970, 1, 1)
_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 30.0
_STAGING_ORPHAN_S = 24 * 3600.0
_WRITE_ERROR = A.OtelyticsDropReasonValues.WRITE_ERROR.value
_SHUTDOWN = A.OtelyticsDropReasonValues.SHUTDOWN.value


class BufferFull(RuntimeError):
    """``append`` was refused: too many rows are waiting to be written (disk slow or failing)."""


class WriterClosed(RuntimeError):
    """``append`` after ``close``."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of one writer since it was created (or since the fork that created the child)."""

    rows_appended: int
    rows_published: int
    rows_dropped: int
    rows_buffered: int
    files_published: int


# --- filesystems ------------------------------------------------------------------------------

def open_root(root: str) -> tuple[pafs.FileSystem | None, str]:
    """``(filesystem, path)`` of a dataset root; ``filesystem`` is None for a local directory.

    ``root`` is a local path (``~`` expanded, made absolute) or a URI ``pyarrow.fs``
    understands (``s3://bucket/prefix?endpoint_override=...``, ``gs://...``, ``file://...``).
    """
    if "://" not in root:
        return None, os.path.abspath(os.path.expanduser(root))
    if root.startswith("file://"):
        fs, path = pafs.FileSystem.from_uri(root)
        return None, os.path.abspath(path)
    if root.startswith("s3://"):
        s3 = _s3(root)
        if s3 is not None:
            return s3
    fs, path = pafs.FileSystem.from_uri(root)
    return fs, path.rstrip("/")


_S3_BOOLS = {"anonymous", "background_writes", "allow_bucket_creation", "allow_bucket_deletion",
             "force_virtual_addressing", "check_directory_existence_before_creation"}
_S3_NUMBERS = {"request_timeout", "connect_timeout", "load_frequency"}


def _s3(root: str) -> tuple[pafs.FileSystem, str] | None:
    """An S3 filesystem with bounded retries and timeouts: the SDK's defaults retry a dead
    endpoint for ~25 s per request, which would hold up the app's exit; our own backoff
    retries longer outages. None when the URI has options we do not map (pyarrow parses it)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(root)
    if parts.username or parts.password:
        return None
    kwargs: dict[str, Any] = {"connect_timeout": 3.0, "request_timeout": 30.0,
                              "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=2)}
    for key, value in parse_qsl(parts.query):
        if key in _S3_BOOLS:
            kwargs[key] = value.lower() in ("1", "true", "yes")
        elif key in _S3_NUMBERS:
            kwargs[key] = float(value)
        elif key in ("region", "scheme", "endpoint_override", "access_key", "secret_key",
                     "session_token", "role_arn", "session_name", "external_id"):
            kwargs[key] = value
        else:
            return None
    try:
        fs = pafs.S3FileSystem(**kwargs)
    except (TypeError, ValueError):
        return None
    return fs, f"{parts.netloc}{parts.path}".rstrip("/")


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in exactly ``schema``: columns reordered, missing ones null, types cast.

    Raises ValueError for a column the schema does not have or a value that cannot be cast.
    """
    if table.schema.equals(schema, check_metadata=False):
        return table.replace_schema_metadata(schema.metadata)
    extra = [n for n in table.column_names if schema.get_field_index(n) < 0]
    if extra:
        raise ValueError(f"columns not in the schema: {', '.join(extra)}")
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if not col.type.equals(field.type):
                try:
                    col = col.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise ValueError(f"column {field.name}: {exc}") from None
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _day_name(day_number: int) -> str:
    return (_EPOCH + _dt.timedelta(days=day_number)).isoformat()


def _today() -> int:
    return time.time_ns() // 1000 // _US_PER_DAY


def _split_by_day(table: pa.Table, time_col: str) -> list[tuple[int, pa.Table]]:
    """``[(day number, rows of that UTC day)]``; rows without a time go to today."""
    col = table.column(time_col)
    if not col.null_count and table.num_rows:
        lo, hi = _min_max(col)  # the common case, one day: no per-row Arrow work
        lo, hi = lo // _US_PER_DAY, hi // _US_PER_DAY
        if lo == hi:
            return [(lo, table)]
    us = pc.cast(col, pa.int64())
    if us.null_count:
        us = pc.fill_null(us, time.time_ns() // 1000)
    days = pc.floor(pc.divide(pc.cast(us, pa.float64()), float(_US_PER_DAY)))
    out = []
    for d in pc.unique(days).to_pylist():
        out.append((int(d), table.filter(pc.equal(days, d))))
    return out


def _min_max(col: pa.ChunkedArray) -> tuple[int, int]:
    """Min and max of a non-empty, null-free 64-bit column, read from its buffers in Python.

    ``append`` runs on the app's export thread; ``pc.min_max`` releases the GIL, and each
    release there costs a switch interval (5 ms) while app threads run (docs/exporter.md).
    """
    lo = hi = None
    for chunk in col.chunks:
        if len(chunk):
            mv = memoryview(chunk.buffers()[1]).cast("q")[chunk.offset:chunk.offset + len(chunk)]
            a, b = min(mv), max(mv)
            lo = a if lo is None or a < lo else lo
            hi = b if hi is None or b > hi else hi
    assert lo is not None and hi is not None
    return lo, hi


def _min_ms(table: pa.Table, time_col: str) -> int:
    v = pc.min(pc.cast(table.column(time_col), pa.int64())).as_py()
    return (v if v is not None else time.time_ns() // 1000) // 1000


def _writer_options(schema: pa.Schema) -> dict[str, Any]:
    return {
        "compression": "zstd",
        "use_dictionary": dictionary_columns(schema),
        # min/max only where a reader can use them (time, ids, tokens, cost...): maps and
        # lists gain nothing from them and cost ~7% of the write
        "write_statistics": [f.name for f in schema if not pa.types.is_nested(f.type)],
        "version": "2.6",
    }


class _File:
    """One Parquet file being written: local staging file or in-memory object-store buffer."""

    __slots__ = ("final", "fs", "rows", "sink", "staging", "writer")

    def __init__(self, fs: pafs.FileSystem | None, root: str, signal: str, day: str,
                 start_ms: int, schema: pa.Schema, name: str | None = None) -> None:
        name = name or file_name(start_ms)
        self.fs = fs
        self.rows = 0
        if fs is None:
            part_dir = os.path.join(root, partition(signal, day))
            staging_dir = os.path.join(root, STAGING)
            os.makedirs(part_dir, exist_ok=True)
            os.makedirs(staging_dir, exist_ok=True)
            self.final = os.path.join(part_dir, name)
            self.staging = os.path.join(staging_dir, f"{signal}-{day}-{name}")
            self.sink: Any = pa.OSFile(self.staging, "wb")
        else:
            self.final = f"{root}/{partition(signal, day)}/{name}"
            self.staging = None
            self.sink = pa.BufferOutputStream()
        try:
            self.writer = pq.ParquetWriter(self.sink, schema, **_writer_options(schema))
        except BaseException:
            self.abort()
            raise

    def write(self, table: pa.Table, row_group_rows: int) -> None:
        self.writer.write_table(table, row_group_size=row_group_rows)
        self.rows += table.num_rows

    def size(self) -> int:
        return self.sink.tell()

    def finish(self) -> pa.Buffer | None:
        """Close the Parquet file; local: publish it. Object store: return bytes to upload."""
        self.writer.close()
        if self.fs is None:
            self.sink.flush()
            with contextlib.suppress(OSError):
                os.fsync(self.sink.fileno())
            self.sink.close()
            os.replace(self.staging, self.final)
            return None
        buf = self.sink.getvalue()
        self.sink.close()
        return buf

    def abort(self) -> None:
        """Give the file up; a local staging file is removed, never published."""
        w = getattr(self, "writer", None)
        if w is not None:
            w.is_open = False  # its __del__ must not write a footer into the sink
        with contextlib.suppress(Exception):
            self.sink.close()
        if self.staging is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.staging)


def _upload(fs: pafs.FileSystem, path: str, data: pa.Buffer) -> None:
    """One PUT of a finished object (atomic on S3: no partial object is ever visible)."""
    with fs.open_output_stream(path) as out:
        out.write(data)


def write_file(root: str, signal: str, table: pa.Table, *, day: str | None = None,
               filesystem: pafs.FileSystem | None = None,
               row_group_rows: int = DEFAULT_ROW_GROUP_ROWS, name: str | None = None,
               metadata: dict[bytes, bytes] | None = None) -> str:
    """Write ``table`` as one Parquet file into its partition and publish it atomically.

    ``name`` fixes the file name (the receiver derives it from its spool segment, so a replay
    replaces the same file); by default a never-colliding one from ``layout.file_name``.

    ``root`` is a local path or URI (see :func:`open_root`), or a path inside ``filesystem``
    when one is given. ``day`` (``YYYY-MM-DD``) defaults to the UTC day of the rows, which
    must then all share one day. zstd, dictionaries only on ``schema.dictionary_columns``,
    ``row_group_rows`` per row group, the schema version in the file metadata. Returns the
    published path (as the filesystem names it). Raises OSError / ValueError on failure and
    leaves nothing visible. ``metadata`` adds file key-value metadata (compaction's sources).
    """
    schema = schema_for(signal)
    if metadata:
        schema = schema.with_metadata({**(schema.metadata or {}), **metadata})
    if filesystem is not None:
        fs, path = filesystem, root.rstrip("/")
        if isinstance(fs, pafs.LocalFileSystem):
            fs, path = None, os.path.abspath(root)
    else:
        fs, path = open_root(root)
    table = conform(table, schema)
    time_col = TIME_COLUMNS[signal]
    if day is None:
        if table.num_rows == 0:
            raise ValueError("an empty table needs an explicit day")
        parts = _split_by_day(table, time_col)
        if len(parts) > 1:
            raise ValueError(f"rows span {len(parts)} days; write one file per day")
        day = _day_name(parts[0][0])
    else:
        _dt.date.fromisoformat(day)  # ValueError on anything but YYYY-MM-DD
    start_ms = _min_ms(table, time_col) if table.num_rows else 0
    f = _File(fs, path, signal, day, start_ms, schema, name)
    try:
        f.write(table, row_group_rows)
        data = f.finish()
    except BaseException:
        f.abort()
        raise
    if data is not None:
        _upload(fs, f.final, data)
    return f.final


# --- the writer ---------------------------------------------------------------------------

class _Part:
    """State of one day partition: rows waiting in memory and the open file."""

    __slots__ = ("file", "opened", "pending", "pending_bytes", "pending_rows")

    def __init__(self, now: float) -> None:
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.file: _File | None = None
        self.opened = now


_writers: weakref.WeakSet[DatasetWriter] = weakref.WeakSet()
_orphans: list[Any] = []  # a forked child's copies of the parent's open files: never closed


class DatasetWriter:
    """Buffers rows of one signal and publishes them as Parquet files under ``root``.

    ``append`` is thread-safe, cheap and never does disk I/O; files are written by a
    background thread, rolled when ``max_rows`` rows or ``max_bytes`` Parquet bytes are
    reached, ``max_age_s`` seconds after their first row, at a day boundary, on ``flush`` and
    on ``close``.
    """

    def __init__(self, root: str, signal: str, *, max_rows: int = DEFAULT_MAX_ROWS,
                 max_bytes: int = DEFAULT_MAX_BYTES, max_age_s: float = DEFAULT_MAX_AGE_S,
                 row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
                 max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES) -> None:
        if signal not in SIGNALS:
            raise ValueError(f"unknown signal {signal!r}; expected one of {list(SIGNALS)}")
        for name, v in (("max_rows", max_rows), ("max_bytes", max_bytes),
                        ("max_age_s", max_age_s), ("row_group_rows", row_group_rows),
                        ("max_buffer_bytes", max_buffer_bytes)):
            if not v > 0:
                raise ValueError(f"{name} must be positive, got {v!r}")
        self.root = root
        self.signal = signal
        self.max_rows = int(max_rows)
        self.max_bytes = int(max_bytes)
        self.max_age_s = float(max_age_s)
        self.row_group_rows = int(min(row_group_rows, max_rows))
        self.max_buffer_bytes = int(max_buffer_bytes)
        self._schema = schema_for(signal)
        self._time_col = TIME_COLUMNS[signal]
        self._fs, self._path = open_root(root)
        self._tick = max(0.05, min(1.0, self.max_age_s / 4))
        self._init_state()
        _writers.add(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()  # guards the buffers; held only for memory operations
        self._io_lock = threading.Lock()  # one I/O cycle at a time
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._parts: dict[int, _Part] = {}
        self._unsent: list[tuple[str, pa.Buffer, int]] = []  # object store: finished, not PUT
        self._buffered_bytes = 0
        self._closed = False
        self._retry_at = 0.0
        self._backoff = 0.0
        self._warned: set[str] = set()
        self._appended = self._published = self._dropped = self._files = 0

    # --- producer side ---------------------------------------------------------------------

    def append(self, table: pa.Table) -> None:
        """Accept rows of this writer's signal (any column order; missing columns become null).

        Raises ValueError for rows that do not fit the schema, :class:`BufferFull` when too
        much is waiting to be written, :class:`WriterClosed` after :meth:`close`.
        """
        if self._closed:
            raise WriterClosed(f"{self.signal} writer for {self.root} is closed")
        table = conform(table, self._schema)
        if table.num_rows == 0:
            return
        pieces = _split_by_day(table, self._time_col)
        nbytes = sum(piece.get_total_buffer_size() for _, piece in pieces)
        wake = False
        with self._lock:
            if self._buffered_bytes + nbytes > self.max_buffer_bytes and self._buffered_bytes:
                raise BufferFull(
                    f"{self._buffered_bytes} bytes of {self.signal} wait to be written to "
                    f"{self.root}")
            now = time.monotonic()
            for day, piece in pieces:
                part = self._parts.get(day)
                if part is None:
                    part = self._parts[day] = _Part(now)
                elif not part.pending and part.file is None:
                    part.opened = now
                part.pending.append(piece)
                part.pending_rows += piece.num_rows
                part.pending_bytes += piece.get_total_buffer_size()
                if part.pending_rows >= self.row_group_rows:
                    wake = True
            if len(self._parts) > 1:
                wake = True  # a day boundary: roll the older file soon
            self._buffered_bytes += nbytes
            self._appended += table.num_rows
        if _exiting:  # no thread or exit hook will come after this: write now
            self.flush(timeout_s=10)
            return
        self._ensure_thread()
        if wake:
            self._wake.set()

    def flush(self, timeout_s: float | None = None) -> list[str]:
        """Write and publish everything accepted so far; return the published paths.

        Returns what it managed when ``timeout_s`` passes while another flush is running.
        Failures are retried by later cycles, or counted as dropped by :meth:`close`.
        """
        if not self._io_lock.acquire(timeout=-1 if timeout_s is None else max(0.0, timeout_s)):
            return []
        try:
            return self._cycle(force=True)
        finally:
            self._io_lock.release()

    def close(self, timeout_s: float | None = None) -> list[str]:
        """Flush, stop the background thread, drop (and count) what could not be written."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout_s)
        paths = self.flush(timeout_s)
        got = self._io_lock.acquire(timeout=-1 if timeout_s is None else max(0.0, timeout_s))
        try:
            self._discard_all("unwritten at shutdown")
        finally:
            if got:
                self._io_lock.release()
        return paths

    @property
    def stats(self) -> WriterStats:
        """Counters for tests, the CLI and the self-metrics."""
        with self._lock:
            buffered = sum(p.pending_rows + (p.file.rows if p.file else 0)
                           for p in self._parts.values())
            buffered += sum(r for _, _, r in self._unsent)
            return WriterStats(self._appended, self._published, self._dropped, buffered,
                               self._files)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DatasetWriter({self.root!r}, {self.signal!r})"

    # --- background side ---------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        t = self._thread
        if t is not None and t.is_alive():
            return
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._run, name=f"otelytics-{self.signal}-writer", daemon=True)
            self._thread.start()

    def _sweep_staging(self) -> None:
        """Remove staging files a killed process left behind (local roots only).

        A file in ``_staging`` is written for at most ``max_age_s``; one untouched for a day
        (or four file ages, if longer) belongs to a process that died. Readers never see these
        files, so this only reclaims space.
        """
        if self._fs is not None:
            return
        horizon = time.time() - max(_STAGING_ORPHAN_S, 4 * self.max_age_s)
        staging = os.path.join(self._path, STAGING)
        try:
            entries = list(os.scandir(staging))
        except OSError:
            return
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file() and entry.stat().st_mtime < horizon:
                    os.unlink(entry.path)

    def _run(self) -> None:
        self._sweep_staging()
        while not self._closed:
            self._wake.wait(self._tick)
            self._wake.clear()
            if self._closed:
                return
            with self._io_lock:
                try:
                    self._cycle(force=False)
                except Exception as exc:  # never let the thread die
                    self._warn("cycle", f"otelytics: {self.signal} writer error: {exc!r}")

    def _cycle(self, force: bool) -> list[str]:
        """One round of I/O: write due row groups, roll due files, retry uploads."""
        now = time.monotonic()
        if not force and now < self._retry_at:
            return []
        published: list[str] = []
        ok = self._retry_unsent(published)
        with self._lock:
            newest = max(self._parts, default=None)
            work = []
            for day, part in self._parts.items():
                aged = now - part.opened >= self.max_age_s
                roll = force or aged or day != newest
                if part.pending and (roll or part.pending_rows >= self.row_group_rows):
                    work.append((day, part, part.pending, part.pending_rows, part.pending_bytes,
                                 roll))
                    part.pending, part.pending_rows, part.pending_bytes = [], 0, 0
                elif part.file is not None and roll:
                    work.append((day, part, [], 0, 0, roll))
        for day, part, tables, rows, nbytes, roll in work:
            ok = self._write_part(day, part, tables, rows, nbytes, roll, published) and ok
        with self._lock:
            for day in [d for d, p in self._parts.items() if not p.pending and p.file is None]:
                del self._parts[day]
        if ok:
            self._backoff = 0.0
            self._retry_at = 0.0
        else:
            self._backoff = min(_RETRY_MAX_S, max(_RETRY_MIN_S, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff
        return published

    def _write_part(self, day: int, part: _Part, tables: list[pa.Table], rows: int,
                    nbytes: int, roll: bool, published: list[str]) -> bool:
        data = None
        if tables:
            data = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        f = part.file
        try:
            while data is not None:
                if f is None:
                    f = part.file = _File(self._fs, self._path, self.signal, _day_name(day),
                                          _min_ms(data, self._time_col), self._schema)
                room = self.max_rows - f.rows
                f.write(data.slice(0, room), self.row_group_rows)
                data = data.slice(room) if data.num_rows > room else None
                if f.rows >= self.max_rows or f.size() >= self.max_bytes:
                    part.file = None
                    done, f = f, None
                    part.opened = time.monotonic()  # the next file's age starts now
                    self._finish(done, published)
            if tables:
                with self._lock:
                    self._buffered_bytes -= nbytes
            if f is not None and roll:
                part.file = None
                done, f = f, None
                self._finish(done, published)
            return True
        except Exception as exc:
            lost = 0
            if f is not None:
                lost = f.rows
                f.abort()
                if part.file is f:
                    part.file = None
            if data is not None:  # not written yet: keep it for the retry, oldest first
                with self._lock:
                    kept = data.get_total_buffer_size()
                    self._buffered_bytes -= nbytes - kept
                    part.pending.insert(0, data)
                    part.pending_rows += data.num_rows
                    part.pending_bytes += kept
            elif tables:
                with self._lock:
                    self._buffered_bytes -= nbytes
            if lost:
                self._drop(lost, _WRITE_ERROR)
            self._warn(type(exc).__name__,
                       f"otelytics: cannot write {self.signal} to {self.root}: {exc}; retrying "
                       "with backoff, rows are dropped (and counted) when the buffer is full")
            return False

    def _finish(self, f: _File, published: list[str]) -> None:
        rows = f.rows
        try:
            data = f.finish()
        except BaseException:
            f.abort()
            self._drop(rows, _WRITE_ERROR)
            raise
        if data is None:
            self._published_file(f.final, rows, published)
            return
        with self._lock:
            self._buffered_bytes += data.size
            self._unsent.append((f.final, data, rows))
        self._retry_unsent(published)

    def _retry_unsent(self, published: list[str]) -> bool:
        while self._unsent:
            path, data, rows = self._unsent[0]
            try:
                _upload(self._fs, path, data)
            except Exception as exc:
                self._warn("upload", f"otelytics: cannot upload {self.signal} to {self.root}: "
                                     f"{exc}; retrying with backoff")
                return False
            with self._lock:
                self._unsent.pop(0)
                self._buffered_bytes -= data.size
            self._published_file(path, rows, published)
        return True

    def _published_file(self, path: str, rows: int, published: list[str]) -> None:
        with self._lock:
            self._published += rows
            self._files += 1
        published.append(path)

    def _discard_all(self, why: str) -> None:
        with self._lock:
            lost = sum(p.pending_rows for p in self._parts.values())
            files = [p.file for p in self._parts.values() if p.file is not None]
            lost += sum(f.rows for f in files)
            lost += sum(r for _, _, r in self._unsent)
            self._parts.clear()
            self._unsent.clear()
            self._buffered_bytes = 0
        for f in files:
            f.abort()
        if lost:
            self._drop(lost, _SHUTDOWN)
            self._warn("discard", f"otelytics: {lost} {self.signal} rows {why} in {self.root}")

    def _drop(self, rows: int, reason: str) -> None:
        with self._lock:
            self._dropped += rows
        _selfmetrics.record_drop(self.signal, reason, rows)

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log.warning(message)

    def _after_fork_in_child(self) -> None:
        for part in self._parts.values():
            if part.file is not None:
                w = part.file.writer
                w.is_open = False
                _orphans.append(part.file)  # keep the parent's file objects alive, untouched
        self._init_state()


def flush_all(timeout_s: float | None = None) -> list[str]:
    """Publish what every writer of this process holds (``otelytics.force_flush()`` calls it:
    the SDK's batch processors export on force_flush but never flush their exporter)."""
    paths: list[str] = []
    for w in list(_writers):
        if not w._closed:
            with contextlib.suppress(Exception):
                paths += w.flush(timeout_s)
    return paths


def _after_fork() -> None:
    for w in list(_writers):
        w._after_fork_in_child()


_exiting = False


def _at_exit() -> None:
    """Publish what every writer holds; from now on ``append`` writes through.

    Writers are flushed, not closed: a provider's own exit hook may still export its last
    batch to an exporter after this runs (exit hooks run in reverse registration order), and
    that batch must reach the disk rather than be refused or left in memory.
    """
    global _exiting
    _exiting = True
    for w in list(_writers):
        if not w._closed:
            with contextlib.suppress(Exception):
                w.flush(timeout_s=10)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
atexit.register(_at_exit)
