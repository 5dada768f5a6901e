"""Publish one converted table under a name the receiver chooses (deterministic, for replay).

Delegates to the exporter's writer when it offers a single-file publish; the fallback below
(staging + atomic rename, PUT on object stores) is only used until then.
"""

from __future__ import annotations

import pyarrow as pa

from otelytics.exporter.layout import STAGING, partition

__all__ = ["publish_table"]


def _split(root: str) -> tuple[object, str]:
    import pyarrow.fs as pafs

    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    import os

    return pafs.LocalFileSystem(), os.path.abspath(root)


def publish_table(root: str, signal: str, day: str, name: str, table: pa.Table) -> str:
    """Write ``table`` to ``<root>/<signal>/dt=<day>/<name>`` atomically; returns the path."""
    import pyarrow.parquet as pq

    fs, base = _split(root)
    final_dir = f"{base}/{partition(signal, day)}"
    final = f"{final_dir}/{name}"
    fs.create_dir(final_dir, recursive=True)
    if type(fs).__name__ == "LocalFileSystem":
        import os

        staging = f"{base}/{STAGING}"
        fs.create_dir(staging, recursive=True)
        tmp = f"{staging}/{name}.{os.getpid()}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    else:
        pq.write_table(table, final, filesystem=fs, compression="zstd")
    return final
