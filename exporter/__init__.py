"""otelytics.exporter: Parquet span, metric and log exporters and the dataset writer."""

from otelytics.exporter._selfmetrics import drop_counts
from otelytics.exporter.writer import BufferFull, DatasetWriter, WriterClosed, write_file

__all__ = ["BufferFull", "DatasetWriter", "WriterClosed", "drop_counts", "write_file"]
