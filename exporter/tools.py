"""Dataset maintenance: ``compact``, ``prune`` and ``validate`` over a local or ``s3://`` root.

Why these are safe to run next to live writers and readers:

* Writers never modify a published file (they write in ``_staging`` and rename a finished file
  into its partition), so every file in a ``dt=`` folder is immutable and may be merged at any
  time. Compaction still leaves today's partition alone unless asked, because it keeps growing.
* Compaction publishes the merged file first and deletes its sources afterwards, so a reader
  never sees fewer rows than exist; in between it may see them twice. The merged file names its
  sources in its metadata (``otelytics.compacted_from``): a crash between publish and delete is
  repaired by re-running ``compact`` or by ``validate --repair``, which delete the sources a
  published merged file names. Duplicates are therefore never left behind permanently.
* Retention deletes whole ``dt=`` partitions, and crash debris in ``_staging`` by age.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from otelytics.exporter.layout import SIGNALS, STAGING, partition_day
from otelytics.exporter.schema import METADATA_KEY, SCHEMA_VERSION, SCHEMAS
from otelytics.exporter.writer import TIME_COLUMNS, conform, write_file

__all__ = [
    "COMPACTED_FROM_KEY",
    "DEFAULT_STAGING_MAX_AGE",
    "DEFAULT_TARGET_SIZE",
    "SORT_KEYS",
    "CompactResult",
    "PartitionCompaction",
    "PartitionStats",
    "Problem",
    "PruneResult",
    "ToolError",
    "ValidationReport",
    "compact",
    "parse_size",
    "prune",
    "validate",
]

COMPACTED_FROM_KEY = b"otelytics.compacted_from"
"""File metadata of a merged file: JSON list of the source file names it replaces."""

DEFAULT_TARGET_SIZE = 128 * 1024 * 1024
"""Source bytes per merged file (output comes out smaller, about half for many small files);
DuckDB's guidance is 100 MB-10 GB per file, and a group is merged in memory."""

DEFAULT_STAGING_MAX_AGE = _dt.timedelta(days=1)
"""A staging file older than this is crash debris (writers publish files within minutes)."""

_ROW_GROUP_ROWS = 128 * 1024
_LOCK_NAME = ".otelytics-compact.lock"

SORT_KEYS: dict[str, tuple[str, ...]] = {
    "spans": ("service_name", "name", "start_time"),
    "metrics": ("service_name", "metric_name", "time"),
    "logs": ("service_name", "time"),
}
"""Merged files are sorted so row-group statistics prune by service and operation."""

_DAY_DIR = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
_PART_FILE = re.compile(r"^part-[A-Za-z0-9_.-]+\.parquet$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)

# Test seam: called with the merged file's path after it is published and before its sources
# are deleted (the crash window the recovery protocol covers).
_after_publish: Callable[[str], None] | None = None


class ToolError(Exception):
    """A usage problem (no such root, bad argument): the CLI prints it as one line, exit 2."""


def parse_size(text: str) -> int:
    """``128MB``, ``1GiB``, ``500k``, ``4096`` -> bytes (powers of 1024); ValueError otherwise."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"invalid size {text!r}; use e.g. 128MB, 1GB or 500KB")
    scale = 1024 ** " kmgt".index((m.group(2) or " ").lower())
    value = int(float(m.group(1)) * scale)
    if value <= 0:
        raise ValueError(f"invalid size {text!r}: must be positive")
    return value


# --------------------------------------------------------------------------- roots and files


@dataclass(frozen=True, slots=True)
class _Root:
    uri: str
    fs: pafs.FileSystem
    base: str
    local: bool

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def rel(self, path: str) -> str:
        return path[len(self.base.rstrip("/")) + 1:] if path.startswith(self.base) else path


def _open_root(root: str | os.PathLike[str], *, must_exist: bool = True) -> _Root:
    uri = str(root)
    if "://" in uri:
        try:
            fs, base = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, OSError, ValueError) as exc:
            raise ToolError(f"cannot open {uri}: {exc}") from None
        local = isinstance(fs, pafs.LocalFileSystem)
    else:
        fs, base, local = pafs.LocalFileSystem(), os.path.abspath(uri), True
    if must_exist:
        try:
            info = fs.get_file_info(base)
        except OSError as exc:
            raise ToolError(f"cannot open {uri}: {exc}") from None
        if info.type == pafs.FileType.NotFound:
            raise ToolError(f"no dataset at {uri}: the folder does not exist")
        if info.type == pafs.FileType.File:
            raise ToolError(f"{uri} is a file, not a dataset folder")
    return _Root(uri, fs, base, local)


def _list(root: _Root, path: str) -> list[pafs.FileInfo]:
    return sorted(root.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)),
                  key=lambda i: i.path)


def _partitions(root: _Root, signal: str) -> list[tuple[str, str]]:
    """``(day, folder)`` of every well-formed ``dt=`` partition of ``signal``."""
    out = []
    for info in _list(root, root.path(signal)):
        m = _DAY_DIR.match(info.base_name)
        if info.type == pafs.FileType.Directory and m and _valid_day(m.group(1)):
            out.append((m.group(1), info.path))
    return out


def _valid_day(day: str) -> bool:
    try:
        _dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass
class _FileFacts:
    """What a file's footer says, or why it cannot be used."""

    path: str
    size: int
    rows: int = 0
    version: int | None = None
    signal: str | None = None
    compacted_from: tuple[str, ...] = ()
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)

    @property
    def usable(self) -> bool:
        return not self.problems


def _same_type(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Equal up to dictionary encoding and nested field names (``item`` vs ``element``)."""
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_map(expected):
        return (pa.types.is_map(actual) and _same_type(actual.key_type, expected.key_type)
                and _same_type(actual.item_type, expected.item_type))
    if pa.types.is_list(expected):
        return pa.types.is_list(actual) and _same_type(actual.value_type, expected.value_type)
    if pa.types.is_struct(expected):
        if not pa.types.is_struct(actual) or actual.num_fields != expected.num_fields:
            return False
        return all(a.name == e.name and _same_type(a.type, e.type)
                   for a, e in zip(actual, expected, strict=True))
    return actual.equals(expected)


def _inspect(root: _Root, info: pafs.FileInfo, signal: str) -> _FileFacts:
    """Read the footer of a published file and check it against the current schema."""
    facts = _FileFacts(info.path, info.size or 0)
    try:
        with root.fs.open_input_file(info.path) as f:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception as exc:  # every reader error means the same: the file is unusable
        facts.problems.append(("unreadable", _one_line(exc)))
        return facts
    facts.rows = meta.num_rows
    kv = meta.metadata or {}
    raw_version = kv.get(METADATA_KEY)
    if raw_version is None:
        facts.problems.append(("foreign_file",
                               "Parquet file without otelytics schema version metadata"))
        return facts
    try:
        facts.version = int(raw_version.decode())
    except (UnicodeDecodeError, ValueError):
        facts.problems.append(("unknown_schema_version",
                               f"schema version {raw_version!r} is not a number"))
        return facts
    if not 1 <= facts.version <= SCHEMA_VERSION:
        facts.problems.append(("unknown_schema_version",
                               f"schema version {facts.version} is unknown to this build "
                               f"(knows 1..{SCHEMA_VERSION})"))
        return facts
    facts.signal = (kv.get(b"otelytics.signal") or b"").decode(errors="replace") or None
    if facts.signal is not None and facts.signal != signal:
        facts.problems.append(("wrong_signal",
                               f"file holds {facts.signal} but lies in the {signal} folder"))
        return facts
    if COMPACTED_FROM_KEY in kv:
        try:
            names = json.loads(kv[COMPACTED_FROM_KEY])
            facts.compacted_from = tuple(str(n) for n in names)
        except (ValueError, TypeError):
            facts.problems.append(("bad_metadata", "unparseable otelytics.compacted_from"))
    expected = SCHEMAS[signal]
    for f in expected:
        idx = schema.get_field_index(f.name)
        if idx < 0:
            if facts.version == SCHEMA_VERSION:
                facts.problems.append(("missing_column", f"column {f.name!r} is missing"))
        elif not _same_type(schema.field(idx).type, f.type):
            facts.problems.append(("wrong_type", f"column {f.name!r} is "
                                   f"{schema.field(idx).type}, expected {f.type}"))
    extra = [n for n in schema.names if expected.get_field_index(n) < 0]
    if extra:
        facts.problems.append(("unexpected_column", f"columns not in the schema: {extra}"))
    return facts


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _read(root: _Root, path: str) -> pa.Table:
    with root.fs.open_input_file(path) as f:
        return pq.ParquetFile(f).read()


def _publish(root: _Root, signal: str, day: str, table: pa.Table,
             extra_metadata: dict[bytes, bytes]) -> str:
    """Publish ``table`` atomically into its partition through the dataset writer (local:
    ``_staging`` + fsync + ``os.replace``; object stores: one PUT of the finished file)."""
    return write_file(root.base, signal, table, day=day, filesystem=root.fs,
                      row_group_rows=_ROW_GROUP_ROWS, metadata=extra_metadata)


# --------------------------------------------------------------------------- compact


@dataclass
class PartitionCompaction:
    """What compaction did to one partition."""

    signal: str
    day: str
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    rows_merged: int = 0
    merged: list[str] = field(default_factory=list)
    recovered_duplicates: int = 0
    """Sources of an earlier, interrupted compaction deleted now (their rows were published
    in a merged file already)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason): files left alone because they failed a check; run ``validate``."""


@dataclass
class CompactResult:
    """The outcome of :func:`compact`."""

    root: str
    partitions: list[PartitionCompaction] = field(default_factory=list)

    @property
    def files_merged(self) -> int:
        return sum(p.files_before - p.files_after for p in self.partitions)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "partitions": [asdict(p) for p in self.partitions]}


def _select_days(days: Iterable[str], day: str | None, since: _dt.timedelta | None,
                 include_today: bool, now: _dt.datetime) -> list[str]:
    today = now.strftime("%Y-%m-%d")
    chosen = []
    for d in days:
        if day is not None:
            if d == day:
                chosen.append(d)
            continue
        if since is not None and d < (now - since).strftime("%Y-%m-%d"):
            continue
        if d == today and not include_today:
            continue
        chosen.append(d)
    return chosen


def _check_signal(signal: str | None) -> list[str]:
    if signal is None:
        return list(SIGNALS)
    if signal not in SIGNALS:
        raise ToolError(f"unknown signal {signal!r}; expected one of {', '.join(SIGNALS)}")
    return [signal]


def _check_day(day: str | None) -> None:
    if day is not None and not (re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) and _valid_day(day)):
        raise ToolError(f"invalid day {day!r}; use YYYY-MM-DD")


def compact(root: str | os.PathLike[str], *, signal: str | None = None, day: str | None = None,
            since: _dt.timedelta | None = None, target_size: int = DEFAULT_TARGET_SIZE,
            include_today: bool = False, now: _dt.datetime | None = None) -> CompactResult:
    """Merge each selected partition's small files into files of about ``target_size`` bytes.

    Partitions: ``day`` alone, else those not older than ``since``, else all; today's
    partition only when named by ``day`` or with ``include_today``. First finishes any
    interrupted compaction (deletes sources a published merged file names), then merges files
    smaller than ``target_size`` in groups, sorted by :data:`SORT_KEYS`. Files that fail a
    check are never merged or deleted; they are listed in ``skipped``.
    """
    if target_size <= 0:
        raise ToolError("target size must be positive")
    _check_day(day)
    r = _open_root(root)
    signals = _check_signal(signal)
    now = now or _utcnow()
    result = CompactResult(r.uri)
    with _compaction_lock(r):
        for sig in signals:
            parts = dict(_partitions(r, sig))
            for d in _select_days(parts, day, since, include_today or day is not None, now):
                result.partitions.append(_compact_partition(r, sig, d, parts[d], target_size))
    return result


@contextlib.contextmanager
def _compaction_lock(root: _Root) -> Iterator[None]:
    """One compaction per root at a time: two merging the same sources would each publish a
    merged file and leave duplicates no recovery can tell apart. Local roots hold an exclusive
    ``flock`` on ``<root>/.otelytics-compact.lock`` (released by the kernel if the process
    dies); object stores have no such primitive: run one scheduled job per root (``validate``
    reports overlapping compactions)."""
    if not root.local:
        yield
        return
    import fcntl

    with open(root.path(_LOCK_NAME), "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ToolError(f"another `otelytics compact` is running on {root.uri}") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _partition_files(root: _Root, folder: str) -> list[pafs.FileInfo]:
    return [i for i in _list(root, folder)
            if i.type == pafs.FileType.File and _PART_FILE.match(i.base_name)]


def _finish_interrupted(root: _Root, facts: list[_FileFacts]) -> tuple[int, set[str]]:
    """Delete files that a published merged file in the same partition already replaces."""
    by_name = {os.path.basename(f.path): f for f in facts}
    doomed: set[str] = set()
    for f in facts:
        if f.usable and f.compacted_from:
            me = os.path.basename(f.path)
            doomed.update(n for n in f.compacted_from if n in by_name and n != me)
    # A merged file that is itself named by another merged file goes too; never both ways.
    for name in sorted(doomed):
        root.fs.delete_file(by_name[name].path)
    return len(doomed), doomed


def _compact_partition(root: _Root, signal: str, day: str, folder: str,
                       target_size: int) -> PartitionCompaction:
    out = PartitionCompaction(signal, day)
    infos = _partition_files(root, folder)
    facts = [_inspect(root, i, signal) for i in infos]
    out.files_before = len(facts)
    out.bytes_before = sum(f.size for f in facts)
    out.recovered_duplicates, gone = _finish_interrupted(root, facts)
    facts = [f for f in facts if os.path.basename(f.path) not in gone]
    candidates = []
    for f in facts:
        if not f.usable:
            out.skipped.append((root.rel(f.path), "; ".join(m for _, m in f.problems)))
        elif f.size < target_size:
            candidates.append(f)
    for group in _bins(candidates, target_size):
        _merge(root, signal, day, group, out)
    remaining = _partition_files(root, folder)
    out.files_after = len(remaining)
    out.bytes_after = sum(i.size or 0 for i in remaining)
    return out


def _bins(files: list[_FileFacts], target_size: int) -> list[list[_FileFacts]]:
    """Consecutive groups (in name = start-time order) of about ``target_size`` bytes."""
    groups: list[list[_FileFacts]] = []
    current: list[_FileFacts] = []
    size = 0
    for f in sorted(files, key=lambda f: os.path.basename(f.path)):
        if current and size + f.size > target_size:
            groups.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        groups.append(current)
    return [g for g in groups if len(g) > 1]


def _merge(root: _Root, signal: str, day: str, group: list[_FileFacts],
           out: PartitionCompaction) -> None:
    schema = SCHEMAS[signal]
    tables, used = [], []
    for f in group:
        try:
            t = conform(_read(root, f.path), schema)
        except Exception as exc:  # a corrupt page: leave the file for validate to report
            out.skipped.append((root.rel(f.path), _one_line(exc)))
            continue
        if t.num_rows != f.rows:
            out.skipped.append((root.rel(f.path), "row count differs from its footer"))
            continue
        tables.append(t)
        used.append(f)
    if len(used) < 2:
        return
    merged = pa.concat_tables(tables)
    merged = merged.sort_by([(k, "ascending") for k in SORT_KEYS[signal]])
    names = [os.path.basename(f.path) for f in used]
    final = _publish(root, signal, day, merged, {COMPACTED_FROM_KEY: json.dumps(names).encode()})
    written = _inspect(root, root.fs.get_file_info(final), signal)
    if not written.usable or written.rows != merged.num_rows:
        raise OSError(f"merged file {final} did not verify; its sources were kept")
    if _after_publish is not None:
        _after_publish(final)
    for f in used:
        root.fs.delete_file(f.path)
    out.merged.append(root.rel(final))
    out.rows_merged += merged.num_rows


# --------------------------------------------------------------------------- prune


@dataclass
class PruneResult:
    """The outcome of :func:`prune`: what was (or, with ``dry_run``, would be) removed."""

    root: str
    cutoff: str
    dry_run: bool
    partitions: list[dict[str, Any]] = field(default_factory=list)
    staging_files: list[str] = field(default_factory=list)

    @property
    def files_removed(self) -> int:
        return sum(p["files"] for p in self.partitions) + len(self.staging_files)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prune(root: str | os.PathLike[str], *, older_than: _dt.timedelta,
          staging_older_than: _dt.timedelta = DEFAULT_STAGING_MAX_AGE,
          dry_run: bool = False, now: _dt.datetime | None = None) -> PruneResult:
    """Delete whole partitions whose day ended before ``now - older_than``, and staging files
    last modified before ``now - staging_older_than`` (crash debris)."""
    if older_than.total_seconds() <= 0:
        raise ToolError("--older-than must be positive")
    r = _open_root(root)
    now = now or _utcnow()
    cutoff = now - older_than
    result = PruneResult(r.uri, cutoff.isoformat(timespec="seconds"), dry_run)
    for sig in SIGNALS:
        for day, folder in _partitions(r, sig):
            end = _dt.datetime.fromisoformat(day).replace(tzinfo=_dt.UTC) + _dt.timedelta(days=1)
            if end > cutoff:
                continue
            files = [i for i in r.fs.get_file_info(pafs.FileSelector(folder, recursive=True))
                     if i.type == pafs.FileType.File]
            result.partitions.append({"signal": sig, "day": day, "files": len(files),
                                      "bytes": sum(i.size or 0 for i in files)})
            if not dry_run:
                r.fs.delete_dir(folder)
    for info in _stale_staging(r, now - staging_older_than):
        result.staging_files.append(r.rel(info.path))
        if not dry_run:
            r.fs.delete_file(info.path)
    return result


def _stale_staging(root: _Root, before: _dt.datetime) -> list[pafs.FileInfo]:
    sel = pafs.FileSelector(root.path(STAGING), allow_not_found=True, recursive=True)
    return [i for i in sorted(root.fs.get_file_info(sel), key=lambda i: i.path)
            if i.type == pafs.FileType.File and i.mtime is not None
            and _aware(i.mtime) < before]


def _aware(t: _dt.datetime) -> _dt.datetime:
    return t.replace(tzinfo=_dt.UTC) if t.tzinfo is None else t


# --------------------------------------------------------------------------- validate


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in the dataset: ``kind`` (stable, machine-readable), where, and what."""

    kind: str
    path: str
    message: str


@dataclass
class PartitionStats:
    """Files and rows in one partition (usable files only count rows)."""

    signal: str
    day: str
    files: int = 0
    rows: int = 0
    bytes: int = 0


@dataclass
class ValidationReport:
    """The outcome of :func:`validate`; ``ok`` when no problem was found."""

    root: str
    partitions: list[PartitionStats] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    staging_in_progress: int = 0
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def files(self) -> int:
        return sum(p.files for p in self.partitions)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "ok": self.ok, "files": self.files, "rows": self.rows,
                "partitions": [asdict(p) for p in self.partitions],
                "problems": [asdict(p) for p in self.problems],
                "staging_in_progress": self.staging_in_progress,
                "repaired": self.repaired}


def validate(root: str | os.PathLike[str], *, repair: bool = False,
             staging_older_than: _dt.timedelta = DEFAULT_STAGING_MAX_AGE,
             now: _dt.datetime | None = None) -> ValidationReport:
    """Check every published file (footer, full read, schema version and columns, rows inside
    their ``dt=`` day), interrupted compactions, staging debris and foreign entries.

    With ``repair``, deletes the sources of interrupted compactions (the only repair that is
    always safe: their rows are in a published merged file); other problems need a human.
    """
    r = _open_root(root)
    now = now or _utcnow()
    report = ValidationReport(r.uri)
    for info in _list(r, r.base):
        # _staging, the receiver's _spool and other "_" / "." entries are ours; readers skip them.
        if info.base_name not in SIGNALS and not info.base_name.startswith(("_", ".")):
            kind = "folder" if info.type == pafs.FileType.Directory else "file"
            report.problems.append(Problem("foreign_file", r.rel(info.path),
                                           f"unexpected {kind} in the dataset root"))
    for sig in SIGNALS:
        _validate_signal(r, sig, report, repair)
    cutoff = now - staging_older_than
    sel = pafs.FileSelector(r.path(STAGING), allow_not_found=True, recursive=True)
    for info in r.fs.get_file_info(sel):
        if info.type != pafs.FileType.File:
            continue
        if info.mtime is not None and _aware(info.mtime) < cutoff:
            report.problems.append(Problem(
                "orphaned_staging", r.rel(info.path),
                f"staging file last written {_aware(info.mtime):%Y-%m-%d %H:%M} UTC: crash "
                "debris, `otelytics prune` removes it"))
        else:
            report.staging_in_progress += 1
    report.problems.sort(key=lambda p: (p.path, p.kind))
    return report


def _validate_signal(r: _Root, sig: str, report: ValidationReport, repair: bool) -> None:
    for info in _list(r, r.path(sig)):
        m = _DAY_DIR.match(info.base_name)
        if not (info.type == pafs.FileType.Directory and m and _valid_day(m.group(1))):
            report.problems.append(Problem("foreign_file", r.rel(info.path),
                                           "not a dt=YYYY-MM-DD partition folder"))
            continue
        day = m.group(1)
        stats = PartitionStats(sig, day)
        report.partitions.append(stats)
        facts = []
        for f in _list(r, info.path):
            if f.type != pafs.FileType.File or not _PART_FILE.match(f.base_name):
                report.problems.append(Problem("foreign_file", r.rel(f.path),
                                               "not a part-*.parquet file"))
                continue
            facts.append(_validate_file(r, sig, day, f, report))
        by_name = {os.path.basename(f.path): f for f in facts}
        stale: set[str] = set()
        claimed: dict[str, str] = {}  # source name -> the merged file that names it
        for f in facts:
            if f.usable and f.compacted_from:
                me = os.path.basename(f.path)
                for name in f.compacted_from:
                    if name in by_name and name != me:
                        stale.add(name)
                    other = claimed.setdefault(name, me)
                    if other != me:
                        report.problems.append(Problem(
                            "overlapping_compaction", r.rel(f.path),
                            f"{other} also holds the rows of {name}: two compactions ran "
                            "at once; rows are duplicated (needs a human)"))
                        break
        for name in sorted(stale):
            path = by_name[name].path
            if repair:
                r.fs.delete_file(path)
                report.repaired.append(r.rel(path))
            else:
                report.problems.append(Problem(
                    "interrupted_compaction", r.rel(path),
                    "its rows are also in a merged file (compaction stopped before deleting "
                    "it): `otelytics validate --repair` or `otelytics compact` removes it"))
        for f in facts:
            if repair and os.path.basename(f.path) in stale:
                continue
            stats.files += 1
            stats.bytes += f.size
            if f.usable:
                stats.rows += f.rows


def _validate_file(r: _Root, sig: str, day: str, info: pafs.FileInfo,
                   report: ValidationReport) -> _FileFacts:
    facts = _inspect(r, info, sig)
    rel = r.rel(info.path)
    if facts.problems:
        for kind, message in facts.problems:
            report.problems.append(Problem(kind, rel, message))
        return facts
    col = TIME_COLUMNS[sig]
    ts = pa.timestamp("us", tz="UTC")
    start = _dt.datetime.fromisoformat(day).replace(tzinfo=_dt.UTC)
    lo, hi = pa.scalar(start, ts), pa.scalar(start + _dt.timedelta(days=1), ts)
    rows = outside = 0
    first = last = None
    try:  # the full read, one row group at a time: memory stays bounded on large files
        with r.fs.open_input_file(info.path) as f:
            pf = pq.ParquetFile(f)
            for i in range(pf.num_row_groups):
                group = pf.read_row_group(i)
                rows += group.num_rows
                if col not in group.column_names or not group.num_rows:
                    continue
                times = group.column(col).cast(ts)
                bad = pc.sum(pc.or_(pc.less(times, lo), pc.greater_equal(times, hi))).as_py()
                if bad:
                    outside += bad
                    mm = pc.min_max(times).as_py()
                    first = min(first or mm["min"], mm["min"])
                    last = max(last or mm["max"], mm["max"])
    except Exception as exc:
        facts.problems.append(("unreadable", _one_line(exc)))
        report.problems.append(Problem("unreadable", rel, f"full read failed: {_one_line(exc)}"))
        return facts
    if rows != facts.rows:
        facts.problems.append(("unreadable", "row count differs from footer"))
        report.problems.append(Problem("unreadable", rel,
                                       f"read {rows} rows, footer says {facts.rows}"))
        return facts
    if outside and first is not None and last is not None:
        report.problems.append(Problem(
            "rows_outside_partition", rel,
            f"{outside} of {rows} rows have {col} outside {day} "
            f"(range {partition_day(_us(first))}..{partition_day(_us(last))})"))
    return facts


def _us(t: _dt.datetime) -> int:
    return int(t.timestamp() * 1_000_000)
