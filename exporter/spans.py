"""``ParquetSpanExporter``: spans into ``<root>/spans/dt=YYYY-MM-DD/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelytics.exporter._base import ExportCore
from otelytics.exporter.convert import spans_to_table

__all__ = ["ParquetSpanExporter"]


class ParquetSpanExporter(SpanExporter):
    """Writes spans to the Parquet dataset; registered as the ``parquet`` traces exporter.

    Options (keyword, else ``OTELYTICS_*`` variable, else default): ``root``
    (``OTELYTICS_DATA_DIR``, ``./otelytics-data``), ``max_rows``, ``max_bytes``, ``max_age_s``,
    ``row_group_rows``, ``max_buffer_bytes`` (see ``docs/exporter.md``). ``export`` converts
    the batch and hands it to a background writer: it never raises and never waits on disk;
    what cannot be kept is counted in ``otelytics.exporter.dropped``.
    """

    def __init__(self, root: str | None = None, **options: Any) -> None:
        self._core = ExportCore("spans", spans_to_table, {"root": root, **options})

    @property
    def root(self) -> str:
        return self._core.options.root

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._core.export(spans, len(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Publish everything exported so far (files become visible to readers)."""
        return self._core.flush(timeout_millis)

    def shutdown(self) -> None:
        self._core.shutdown()
