"""Where files live in a dataset root: the Hive-partitioned layout every writer and reader uses.

``<root>/{spans,metrics,logs}/dt=YYYY-MM-DD/part-<startms>-<pid>-<uuid>.parquet`` for
published files, ``<root>/_staging/`` for files still being written (readers never look
there). A file is published by closing it and renaming it into its partition, so a reader
never sees a half-written file.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid

__all__ = ["SIGNALS", "STAGING", "file_name", "partition", "partition_day"]

SIGNALS: tuple[str, ...] = ("spans", "metrics", "logs")
STAGING = "_staging"


def partition_day(epoch_us: int) -> str:
    """The ``YYYY-MM-DD`` (UTC) partition of a timestamp in microseconds since the epoch."""
    return _dt.datetime.fromtimestamp(epoch_us / 1e6, _dt.UTC).strftime("%Y-%m-%d")


def partition(signal: str, day: str) -> str:
    """Relative folder of a partition: ``spans/dt=2026-11-29``."""
    return f"{signal}/dt={day}"


def file_name(start_ms: int) -> str:
    """A file name that never collides across processes, threads and hosts."""
    return f"part-{start_ms}-{os.getpid()}-{uuid.uuid4().hex}.parquet"
