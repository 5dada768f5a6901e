"""otelytics.exporter: Parquet span, metric and log exporters and the dataset writer.

The exporters are registered as ``parquet`` in the OpenTelemetry exporter entry-point groups;
:class:`DatasetWriter` is what every producer (these exporters, the OTLP receiver, compaction)
writes through, so every file follows one layout and one schema.
"""

from otelytics.exporter._options import ExporterOptions
from otelytics.exporter._selfmetrics import drop_counts
from otelytics.exporter.logs import ParquetLogRecordExporter
from otelytics.exporter.metrics import ParquetMetricExporter
from otelytics.exporter.spans import ParquetSpanExporter
from otelytics.exporter.writer import BufferFull, DatasetWriter, WriterClosed, write_file

__all__ = [
    "BufferFull",
    "DatasetWriter",
    "ExporterOptions",
    "ParquetLogRecordExporter",
    "ParquetMetricExporter",
    "ParquetSpanExporter",
    "WriterClosed",
    "drop_counts",
    "write_file",
]
