"""Defaults of ``otelytics serve``: one place that the CLI, the docs and collector-config agree on.

Ports are OTLP's registered defaults (4317 gRPC, 4318 HTTP); the receiver binds loopback unless
told otherwise.
"""

from __future__ import annotations

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HOST",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_MAX_BACKLOG_BYTES",
    "DEFAULT_MAX_CONCURRENT_REQUESTS",
    "DEFAULT_MAX_REQUEST_BYTES",
    "HTTP_PATHS",
    "TOKEN_ENV",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
HTTP_PATHS: dict[str, str] = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
TOKEN_ENV = "OTELYTICS_SERVE_TOKEN"
"""Environment variable holding the bearer token clients must send (optional)."""

DEFAULT_MAX_REQUEST_BYTES = 64 << 20
"""Request body limit, on the wire and again after decompression (the OTLP spec's 64 MiB)."""
DEFAULT_MAX_CONCURRENT_REQUESTS = 32
"""Requests decoded at once; more are answered 429 / RESOURCE_EXHAUSTED with a retry delay."""
DEFAULT_MAX_BACKLOG_BYTES = 128 << 20
"""Acknowledged but unpublished spool bytes; above it requests get 503 / UNAVAILABLE."""
DATA_DIR_ENV = "OTELYTICS_DATA_DIR"
"""Environment variable naming the dataset root when ``--data-dir`` is not given."""
