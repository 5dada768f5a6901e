"""What the three Parquet exporters share: a writer, drop accounting, never raising."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from otelytics.exporter import _selfmetrics
from otelytics.exporter._options import ExporterOptions, resolve_options
from otelytics.exporter.writer import BufferFull, DatasetWriter, WriterClosed
from otelytics.semconv import attributes as A

_log = logging.getLogger("otelytics")
_R = A.OtelyticsDropReasonValues


class ExportCore:
    """Convert, append, count what could not be appended. ``export`` never raises."""

    def __init__(self, signal: str, convert: Callable[[Sequence[Any]], pa.Table],
                 options: dict[str, Any]) -> None:
        self.signal = signal
        self._convert = convert
        self._warned: set[str] = set()
        self._shutdown = False
        self.options: ExporterOptions = resolve_options(**options)
        self.writer: DatasetWriter | None = None
        _warm_up()
        try:
            self.writer = DatasetWriter(self.options.root, signal, **self.options.writer_kwargs())
        except Exception as exc:  # e.g. a malformed URI: the app still runs, rows are counted
            _log.error("otelytics: cannot open the %s dataset at %r: %s; %s will be dropped",
                       signal, self.options.root, exc, signal)

    def export(self, items: Sequence[Any], rows: int) -> bool:
        """True when the rows were accepted (they are written in the background)."""
        if self._shutdown:
            return self._drop(rows, _R.CLOSED, "export after shutdown")
        if self.writer is None:
            return self._drop(rows, _R.WRITE_ERROR, "no dataset root")
        try:
            table = self._convert(items)
        except Exception as exc:
            try:
                table = self._convert_one_by_one(items, exc)
            except Exception:  # not a sequence of items (metrics): the whole batch goes
                return self._drop(rows, _R.CONVERT_ERROR, repr(exc))
            if table is None:
                return False
        if table.num_rows == 0:
            return True
        try:
            self.writer.append(table)
        except BufferFull as exc:
            return self._drop(table.num_rows, _R.BUFFER_FULL, str(exc))
        except WriterClosed:
            return self._drop(table.num_rows, _R.CLOSED, "export after shutdown")
        except Exception as exc:
            return self._drop(table.num_rows, _R.CONVERT_ERROR, repr(exc))
        return True

    def _convert_one_by_one(self, items: Sequence[Any], first: Exception) -> pa.Table | None:
        """A batch failed to convert: keep the items that do, count the ones that don't."""
        if not isinstance(items, Sequence):
            raise TypeError("not a sequence")
        tables, bad = [], 0
        for item in items:
            try:
                tables.append(self._convert([item]))
            except Exception:
                bad += 1
        if bad:
            self._drop(bad, _R.CONVERT_ERROR, repr(first))
        return pa.concat_tables(tables) if tables else None

    def flush(self, timeout_millis: float) -> bool:
        if self.writer is None:
            return False
        try:
            self.writer.flush(timeout_millis / 1000)
            return self.writer.stats.rows_buffered == 0
        except Exception as exc:
            self._warn("flush", f"otelytics: flushing {self.signal} failed: {exc!r}")
            return False

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        if self.writer is not None:
            try:
                self.writer.close(timeout_millis / 1000)
            except Exception as exc:
                self._warn("close", f"otelytics: closing {self.signal} failed: {exc!r}")

    def _drop(self, rows: int, reason: _R, why: str) -> bool:
        _selfmetrics.record_drop(self.signal, reason.value, rows)
        self._warn(reason.value, f"otelytics: dropped {rows} {self.signal} ({reason.value}: "
                                 f"{why}); further drops are counted in otelytics.exporter.dropped")
        return False

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log.warning(message)


def _warm_up() -> None:
    """Pay pyarrow's one-time lazy imports now, not in the first export.

    ``pa.array`` imports pandas on its first call when pandas is installed (~0.2 s measured).
    Paid inside the first ``export``, that stalled the SDK's batch thread while the app kept
    ending spans: a 20,000-call loop lost ~17,000 of them to the SDK's full queue
    (docs/exporter.md). Paid here, at set-up, it costs the same once and loses nothing.
    """
    try:
        pa.array([0])
    except Exception:
        pass

