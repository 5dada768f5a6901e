"""The receiver's write-ahead spool: what it has acknowledged is on disk before the answer goes out.

Requests are appended as frames (``magic, length, signal, crc32`` + the decompressed protobuf
request) to numbered segment files. A single flusher thread takes every frame that arrived since
its last write, writes them with one ``write`` and shares one ``fsync`` between them (group
commit), then wakes the request threads waiting on that batch: with 8 concurrent clients one
fsync acknowledges 8 requests. Segments roll on size and age; a sealed segment is handed to the
converter, which publishes it as Parquet and deletes it. At start every segment still on disk is
read back (a torn tail -- frames whose fsync never finished, so never acknowledged -- is cut off)
and published again under the same deterministic file names.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Segment", "Spool", "SpoolClosed", "read_frames"]

_log = logging.getLogger(__name__)

_MAGIC = b"OTS1"
_HEADER = struct.Struct("<4sIBI")  # magic, payload length, signal code, crc32(payload)
_SUFFIX = ".spool"


class SpoolClosed(RuntimeError):
    """The spool is shutting down (or its disk failed): the request was not acknowledged."""


@dataclass
class Segment:
    """One spool file; ``records`` holds the parsed requests when this process wrote it."""

    seq: int
    path: Path
    size: int = 0
    records: list[tuple[int, Any]] | None = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class _Batch:
    __slots__ = ("done", "error", "frames", "records")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.records: list[tuple[int, Any]] = []
        self.done = threading.Event()
        self.error: BaseException | None = None


def read_frames(path: Path) -> tuple[list[tuple[int, bytes]], int]:
    """Frames of a segment file and the offset where the valid prefix ends (torn tail cut)."""
    data = path.read_bytes()
    frames: list[tuple[int, bytes]] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        magic, length, signal, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if magic != _MAGIC or end > len(data):
            break
        payload = data[pos + _HEADER.size:end]
        if zlib.crc32(payload) != crc:
            break
        frames.append((signal, payload))
        pos = end
    return frames, pos


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Append-only, fsynced, segmented request log with group commit."""

    def __init__(self, directory: str | os.PathLike[str], *, on_sealed: Callable[[Segment], None],
                 segment_bytes: int = 32 << 20, segment_age_s: float = 10.0,
                 fsync: bool = True, keep_parsed_bytes: int = 16 << 20) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._on_sealed = on_sealed
        self._segment_bytes = segment_bytes
        self._segment_age_s = segment_age_s
        self._fsync = fsync
        self._keep_parsed_bytes = keep_parsed_bytes
        self._cond = threading.Condition()
        self._batch: _Batch | None = None
        self._closing = False
        self._closed = threading.Event()
        self._error: BaseException | None = None
        self._backlog = 0  # bytes acknowledged but not yet published
        self._current: Segment | None = None
        self._file: Any = None
        self._next_seq = 0
        self._thread: threading.Thread | None = None
        self.fsyncs = 0
        self.frames = 0

    # --- start-up -------------------------------------------------------------------------
    def recover(self) -> list[Segment]:
        """Segments left by an earlier run, oldest first, torn tails truncated."""
        found = []
        for path in sorted(self.dir.glob(f"seg-*{_SUFFIX}")):
            try:
                seq = int(path.stem.split("-", 1)[1])
            except ValueError:
                continue
            frames, valid = read_frames(path)
            size = path.stat().st_size
            if valid < size:
                _log.warning("spool %s: cutting a torn tail of %d bytes (never acknowledged)",
                             path.name, size - valid)
                with open(path, "r+b") as f:
                    f.truncate(valid)
                    os.fsync(f.fileno())
            self._next_seq = max(self._next_seq, seq + 1)
            if not frames:
                path.unlink()
                continue
            found.append(Segment(seq, path, valid, records=None))
            self._backlog += valid
        return found

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otelytics-spool", daemon=True)
        self._thread.start()

    # --- request side ---------------------------------------------------------------------
    @property
    def backlog_bytes(self) -> int:
        return self._backlog

    @property
    def healthy(self) -> bool:
        """False once a write or fsync failed: nothing more can be acknowledged."""
        return self._error is None

    def append(self, signal: int, payload: bytes, parsed: Any, timeout: float = 30.0) -> None:
        """Make ``payload`` durable; returns once it is fsynced, raises SpoolClosed otherwise."""
        frame = _HEADER.pack(_MAGIC, len(payload), signal, zlib.crc32(payload)) + payload
        with self._cond:
            if self._closing or self._error is not None:
                raise SpoolClosed("receiver is shutting down" if self._closing
                                  else f"spool failed: {self._error}")
            batch = self._batch
            if batch is None:
                batch = self._batch = _Batch()
            batch.frames.append(frame)
            batch.records.append((signal, parsed))
            self._backlog += len(frame)
            self._cond.notify_all()
        if not batch.done.wait(timeout):
            raise SpoolClosed("spool write timed out")
        if batch.error is not None:
            raise SpoolClosed(f"spool write failed: {batch.error}")

    def release(self, segment: Segment, move_to: Path | None = None) -> None:
        """The converter published ``segment`` (or set it aside at ``move_to``): delete it."""
        try:
            if move_to is None:
                segment.path.unlink()
            else:
                os.replace(segment.path, move_to)
        except FileNotFoundError:
            pass
        with self._cond:
            self._backlog -= segment.size

    # --- flusher --------------------------------------------------------------------------
    def _open_segment(self) -> None:
        seq = self._next_seq
        self._next_seq += 1
        path = self.dir / f"seg-{seq:012d}{_SUFFIX}"
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives across batches
        if self._fsync:
            _fsync_dir(self.dir)
        self._current = Segment(seq, path)

    def _seal(self) -> None:
        seg, f = self._current, self._file
        self._current = self._file = None
        if seg is None:
            return
        f.close()
        if seg.size == 0:
            seg.path.unlink(missing_ok=True)
            return
        self._on_sealed(seg)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while self._batch is None and not self._closing:
                        cur = self._current
                        if cur is not None and cur.size and (
                                time.monotonic() - cur.opened >= self._segment_age_s):
                            break
                        self._cond.wait(self._segment_age_s / 4 if cur is not None else None)
                    batch, self._batch = self._batch, None
                    closing = self._closing
                if batch is not None:
                    self._write(batch)
                cur = self._current
                if cur is not None and (closing or cur.size >= self._segment_bytes or (
                        cur.size and time.monotonic() - cur.opened >= self._segment_age_s)):
                    self._seal()
                if closing:
                    with self._cond:
                        if self._batch is None:
                            break
        except BaseException as exc:  # disk full, I/O error: refuse from now on, never hang
            _log.exception("spool flusher failed")
            with self._cond:
                self._error = exc
                pending, self._batch = self._batch, None
            if pending is not None:
                pending.error = exc
                pending.done.set()
        finally:
            self._closed.set()

    def _write(self, batch: _Batch) -> None:
        try:
            if self._current is None:
                self._open_segment()
            data = b"".join(batch.frames)
            view = memoryview(data)
            while view:  # a raw write may be short (disk full, file size limit): never ack that
                n = self._file.write(view)
                if not n:
                    raise OSError("short write to the spool")
                view = view[n:]
            if self._fsync:
                os.fsync(self._file.fileno())
                self.fsyncs += 1
            seg = self._current
            seg.size += len(data)
            if seg.records is not None:
                if seg.size <= self._keep_parsed_bytes:
                    seg.records.extend(batch.records)
                else:  # memory bound: the converter re-reads this segment from disk
                    seg.records = None
            self.frames += len(batch.frames)
        except BaseException as exc:
            batch.error = exc
            with self._cond:
                self._backlog -= sum(len(f) for f in batch.frames)
            batch.done.set()
            raise
        batch.done.set()

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new appends, write what is pending, seal the current segment."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._closed.wait(timeout)
