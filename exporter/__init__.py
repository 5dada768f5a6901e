"""otelytics.exporter: Parquet span, metric and log exporters and the dataset writer."""
