"""``ParquetLogRecordExporter``: log records into ``<root>/logs/dt=YYYY-MM-DD/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otelytics.exporter._base import ExportCore
from otelytics.exporter.convert import logs_to_table

__all__ = ["ParquetLogRecordExporter"]


class ParquetLogRecordExporter(LogRecordExporter):
    """Writes log records to the Parquet dataset; registered as the ``parquet`` logs exporter.
    Same options as :class:`~otelytics.exporter.ParquetSpanExporter`."""

    def __init__(self, root: str | None = None, **options: Any) -> None:
        self._core = ExportCore("logs", logs_to_table, {"root": root, **options})

    @property
    def root(self) -> str:
        return self._core.options.root

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        ok = self._core.export(batch, len(batch))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._core.flush(timeout_millis)

    def shutdown(self) -> None:
        self._core.shutdown()
