"""The receiver's core, shared by the HTTP and gRPC front ends: validate, spool, convert, publish.

``Receiver.ingest(signal, payload)`` is the whole protocol-independent contract: it parses the
decompressed request, counts the items it will reject, makes the request durable in the spool
and only then returns a success; everything else (back-pressure, shutdown, bad data) comes back
as a :class:`Refusal` the front end maps to its status codes. A converter thread publishes
sealed spool segments as Parquet under names derived from (receiver id, segment number), so a
segment published twice -- crash after publish, before delete -- replaces its own files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from otelytics.exporter.layout import SIGNALS
from otelytics.exporter.receiver import config as C
from otelytics.exporter.receiver.decode import REQUEST_TYPES, to_tables, validate
from otelytics.exporter.receiver.spool import (
    Segment,
    Spool,
    SpoolClosed,
    _fsync_dir,
    read_frames,
)
from otelytics.exporter.writer import write_file
from otelytics.semconv import metrics as M

__all__ = ["Receiver", "ReceiverConfig", "Refusal", "SpoolLocked", "convert_segment"]

_log = logging.getLogger(__name__)

_CODES = {name: i for i, name in enumerate(SIGNALS)}
_RESPONSES = {
    "spans": (ExportTraceServiceResponse, ExportTracePartialSuccess, "rejected_spans"),
    "metrics": (ExportMetricsServiceResponse, ExportMetricsPartialSuccess,
                "rejected_data_points"),
    "logs": (ExportLogsServiceResponse, ExportLogsPartialSuccess, "rejected_log_records"),
}


_KEEP_PARSED = 1
_CHUNK_BYTES = 2 << 20


class SpoolLocked(RuntimeError):
    """Another receiver process owns this spool directory."""


@dataclass(frozen=True)
class Refusal(Exception):
    """Why a request was not acknowledged: ``kind`` is bad_data, throttled or unavailable."""

    kind: str
    message: str
    retry_after_s: int = 0


@dataclass
class ReceiverConfig:
    """Settings of one receiver; the CLI fills them from flags, ``OTELYTICS_*`` and defaults."""

    data_dir: str
    host: str = C.DEFAULT_HOST
    http_port: int | None = C.DEFAULT_HTTP_PORT
    grpc_port: int | None = C.DEFAULT_GRPC_PORT
    spool_dir: str | None = None
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_request_bytes: int = C.DEFAULT_MAX_REQUEST_BYTES
    max_concurrent_requests: int = C.DEFAULT_MAX_CONCURRENT_REQUESTS
    max_backlog_bytes: int = C.DEFAULT_MAX_BACKLOG_BYTES
    segment_bytes: int = 32 << 20
    segment_age_s: float = 10.0
    read_timeout_s: float = 10.0
    fsync: bool = True
    converters: int = 1
    self_metrics_interval_s: float = 60.0  # 0: the receiver's counters are not written

    def resolved_spool_dir(self) -> Path:
        """The spool lives beside local data; remote roots get one under the user's state dir."""
        if self.spool_dir:
            return Path(self.spool_dir)
        if "://" not in self.data_dir:
            return Path(self.data_dir) / "_spool"
        state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
        digest = hashlib.sha1(self.data_dir.split("?", 1)[0].encode()).hexdigest()[:12]
        return state / "otelytics" / "spool" / digest


class _Stats:
    """Self-metrics: monotonic counters keyed by (metric name, signal)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, name: str, signal: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.counters[(name, signal)] += n

    def get(self, name: str, signal: str) -> int:
        return self.counters.get((name, signal), 0)


class Receiver:
    """Spool + converter; the front ends call :meth:`ingest`."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.stats = _Stats()
        self.spool_dir = config.resolved_spool_dir()
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.spool_dir / "lock", "a+")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise SpoolLocked(f"spool {self.spool_dir} is in use by another receiver") from None
        self.receiver_id = self._load_id()
        self._queue: queue.Queue[Segment | None] = queue.Queue()
        self.spool = Spool(self.spool_dir, on_sealed=self._sealed,
                           segment_bytes=config.segment_bytes,
                           segment_age_s=config.segment_age_s, fsync=config.fsync)
        self.inflight = threading.BoundedSemaphore(config.max_concurrent_requests)
        self.draining = False
        self._converter = threading.Thread(target=self._convert_loop, name="otelytics-convert",
                                           daemon=True)
        self._stop_deadline: float | None = None
        self.publish_errors = 0
        self.recovered_segments = 0
        self.quarantined_segments = 0

    def _sealed(self, seg: Segment) -> None:
        """Queue a sealed segment; past a short queue, drop its parsed copy (memory stays
        bounded by ``_KEEP_PARSED`` segments; the rest is re-read from disk when its turn comes)."""
        if self._queue.qsize() >= _KEEP_PARSED:
            seg.records = None
        self._queue.put(seg)

    def _load_id(self) -> str:
        path = self.spool_dir / "receiver-id"
        try:
            rid = path.read_text().strip()
            if rid:
                return rid
        except FileNotFoundError:
            pass
        rid = uuid.uuid4().hex[:12]
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:  # durable before any file is named after it
            f.write(rid)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.spool_dir)
        return rid

    # --- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Queue what the spool held from an earlier run, then start flusher and converter."""
        for seg in self.spool.recover():
            self.recovered_segments += 1
            self._queue.put(seg)
        self.spool.start()
        self._converter.start()

    def stop(self, timeout: float = 60.0) -> bool:
        """Refuse new data, seal the spool, publish everything; True when nothing is left."""
        self.draining = True
        self._stop_deadline = time.monotonic() + timeout
        self.spool.close(timeout)
        self._queue.put(None)
        self._converter.join(max(0.0, self._stop_deadline - time.monotonic()))
        left = self.spool.backlog_bytes
        with contextlib.suppress(OSError):
            self._lock_file.close()
        return left == 0 and not self._converter.is_alive()

    # --- ingest ---------------------------------------------------------------------------
    def ingest(self, signal: str, payload: bytes) -> Any:
        """Validate and spool one decompressed request; the Export*ServiceResponse to send."""
        self._admit(signal, len(payload))
        try:
            request = REQUEST_TYPES[signal].FromString(payload)
        except (DecodeError, RuntimeWarning, ValueError) as exc:
            self.stats.add(M.OTELYTICS_RECEIVER_REQUESTS_REFUSED.name, signal)
            raise Refusal("bad_data", f"cannot decode {signal} request: {exc}") from None
        return self.ingest_parsed(signal, request, payload)

    def _admit(self, signal: str, size: int) -> None:
        """Refuse while draining or when the unpublished backlog would pass its cap (an empty
        backlog always admits one request, however large, so progress is certain)."""
        if self.draining:
            raise Refusal("unavailable", "receiver is shutting down", 5)
        backlog = self.spool.backlog_bytes
        if backlog and backlog + size > self.config.max_backlog_bytes:
            self.stats.add(M.OTELYTICS_RECEIVER_REQUESTS_REFUSED.name, signal)
            raise Refusal("unavailable", "spool backlog is full; retry later", 2)

    def ingest_parsed(self, signal: str, request: Any, payload: bytes | None = None) -> Any:
        """As :meth:`ingest` for a request already parsed (the JSON path)."""
        if payload is None:
            payload = request.SerializeToString()
            self._admit(signal, len(payload))
        found = validate(signal, request)
        self.stats.add(M.OTELYTICS_RECEIVER_ITEMS_RECEIVED.name, signal, found.items)
        self.stats.add(M.OTELYTICS_RECEIVER_ITEMS_REJECTED.name, signal, found.rejected)
        if found.items > found.rejected:
            try:
                self.spool.append(_CODES[signal], payload, request)
            except SpoolClosed as exc:
                self.stats.add(M.OTELYTICS_RECEIVER_REQUESTS_REFUSED.name, signal)
                raise Refusal("unavailable", str(exc), 5) from None
            self.stats.add(M.OTELYTICS_RECEIVER_ITEMS_SPOOLED.name, signal,
                           found.items - found.rejected)
        response_type, partial_type, field = _RESPONSES[signal]
        if not found.rejected:
            return response_type()
        return response_type(partial_success=partial_type(
            **{field: found.rejected, "error_message": found.message}))

    # --- converter ------------------------------------------------------------------------
    def _convert_loop(self) -> None:
        if self.config.converters > 1:
            try:
                self._pool_loop()
                return
            except BrokenProcessPool:
                _log.exception("converter processes died; converting in this process")
        while True:
            seg = self._queue.get()
            if seg is None:
                return
            if not self._retrying(lambda seg=seg: self._publish_here(seg), seg):
                return

    def _retrying(self, attempt: Any, seg: Segment) -> bool:
        """Run ``attempt`` until it succeeds (I/O errors retried with backoff); False when
        shutdown's deadline passed first (the segment then stays in the spool)."""
        delay = 0.5
        while True:
            try:
                attempt()
                return True
            except Exception:
                self.publish_errors += 1
                _log.exception("publishing spool segment %s failed; retrying", seg.path.name)
                if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
                    _log.error("giving up on %s at shutdown; it stays in the spool",
                               seg.path.name)
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _publish_here(self, seg: Segment) -> None:
        rows, error = convert_segment(seg.records, seg.path, seg.seq, self.receiver_id,
                                      self.config.data_dir)
        self._done(seg, rows, error)

    def _done(self, seg: Segment, rows: dict[str, int], error: str | None) -> None:
        if error is not None:  # deterministic: retrying cannot help; keep the bytes, count
            qdir = self.spool_dir / "quarantine"
            qdir.mkdir(exist_ok=True)
            _log.error("spool segment %s cannot be converted (%s); moved to %s",
                       seg.path.name, error, qdir)
            self.spool.release(seg, move_to=qdir / seg.path.name)
            self.quarantined_segments += 1
        else:
            for signal, n in rows.items():
                self.stats.add(M.OTELYTICS_RECEIVER_ITEMS_WRITTEN.name, signal, n)
            self.spool.release(seg)
        seg.records = None

    def _pool_loop(self) -> None:
        """Segments converted by ``converters`` processes at once (each reads its segment from
        disk): conversion is CPU-bound Python, so this is what uses more than one core."""
        n = self.config.converters
        ctx = multiprocessing.get_context("spawn")  # never fork a process running grpc
        with ProcessPoolExecutor(n, mp_context=ctx) as pool:
            inflight: dict[Any, Segment] = {}
            closed = False
            while True:
                while not closed and len(inflight) < n:
                    try:
                        seg = self._queue.get(block=not inflight)
                    except queue.Empty:
                        break
                    if seg is None:
                        closed = True
                        break
                    seg.records = None
                    inflight[pool.submit(convert_segment, None, seg.path, seg.seq,
                                         self.receiver_id, self.config.data_dir)] = seg
                if closed and not inflight:
                    return
                finished, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    seg = inflight.pop(fut)
                    try:
                        rows, error = fut.result()
                    except BrokenProcessPool:
                        raise
                    except Exception:
                        # I/O failure in the child: retry here, with backoff, in order
                        if not self._retrying(lambda seg=seg: self._publish_here(seg), seg):
                            return
                        continue
                    self._done(seg, rows, error)

    # --- self-metrics ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Counters and gauges for ``/metrics`` and ``/health``."""
        names = (M.OTELYTICS_RECEIVER_ITEMS_RECEIVED, M.OTELYTICS_RECEIVER_ITEMS_REJECTED,
                 M.OTELYTICS_RECEIVER_ITEMS_SPOOLED, M.OTELYTICS_RECEIVER_ITEMS_WRITTEN,
                 M.OTELYTICS_RECEIVER_REQUESTS_REFUSED)
        return {
            "receiver_id": self.receiver_id,
            "metrics": {
                spec.name: {s: self.stats.get(spec.name, s) for s in SIGNALS} for spec in names
            } | {M.OTELYTICS_RECEIVER_SPOOL_BACKLOG.name: self.spool.backlog_bytes},
            "publish_errors": self.publish_errors,
            "recovered_segments": self.recovered_segments,
            "quarantined_segments": self.quarantined_segments,
            "fsyncs": self.spool.fsyncs,
            "frames": self.spool.frames,
        }


def convert_segment(records: list[tuple[int, Any]] | None, path: Path, seq: int,
                    receiver_id: str, data_dir: str) -> tuple[dict[str, int], str | None]:
    """Convert one spool segment and publish its files; ``(rows by signal, None)``, or
    ``({}, why)`` when the segment cannot be converted (deterministic: never retried).

    Runs in the receiver or in a converter process. File names come from (receiver id,
    segment number, first timestamp): converting a segment again replaces its own files.
    """
    try:
        tables = _segment_tables(records, path)
    except (ValueError, TypeError, OverflowError, ArithmeticError, DecodeError) as exc:
        return {}, f"{type(exc).__name__}: {exc}"
    rows: dict[str, int] = defaultdict(int)
    for signal, day, table in tables:
        name = f"part-{_first_ms(table)}-{receiver_id}-{seq:012d}.parquet"
        write_file(data_dir, signal, table, day=day, name=name)
        rows[signal] += table.num_rows
    return dict(rows), None


def _segment_tables(records: list[tuple[int, Any]] | None,
                    path: Path) -> list[tuple[str, str, Any]]:
    """Convert in chunks of about ``_CHUNK_BYTES`` of protobuf, so the Python objects of only
    one chunk are alive at a time; the Arrow pieces are concatenated per file."""
    pieces: dict[tuple[str, str], list[Any]] = defaultdict(list)
    chunk: dict[str, list[Any]] = defaultdict(list)
    size = 0

    def flush() -> None:
        for signal, requests in chunk.items():
            for day, table in to_tables(signal, requests).items():
                pieces[(signal, day)].append(table)
        chunk.clear()

    if records is not None:
        items: Any = ((SIGNALS[code], req, req.ByteSize()) for code, req in records)
    else:
        items = ((SIGNALS[code], REQUEST_TYPES[SIGNALS[code]].FromString(payload), len(payload))
                 for code, payload in read_frames(path)[0])
    for signal, request, n in items:
        chunk[signal].append(request)
        size += n
        if size >= _CHUNK_BYTES:
            flush()
            size = 0
    flush()
    return [(signal, day, pa.concat_tables(tables) if len(tables) > 1 else tables[0])
            for (signal, day), tables in pieces.items()]


def _first_ms(table: Any) -> int:
    import pyarrow.compute as pc

    col = "start_time" if "start_time" in table.column_names and "span_id" in \
        table.column_names else "time"
    first = pc.min(table[col]).value
    return 0 if first is None else int(first // 1000)
