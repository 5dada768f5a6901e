"""otelytics.analysis: reads the Parquet dataset; reports, suggestions, comparisons, CLI."""
