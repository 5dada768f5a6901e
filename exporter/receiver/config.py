"""Defaults of ``otelytics serve``: one place that the CLI, the docs and collector-config agree on.

Ports are OTLP's registered defaults (4317 gRPC, 4318 HTTP); the receiver binds loopback unless
told otherwise.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HOST",
    "DEFAULT_HTTP_PORT",
    "HTTP_PATHS",
    "TOKEN_ENV",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
HTTP_PATHS: dict[str, str] = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
TOKEN_ENV = "OTELYTICS_SERVE_TOKEN"
"""Environment variable holding the bearer token clients must send (optional)."""
