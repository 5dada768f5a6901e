"""Shared fixtures: one SDK TracerProvider and MeterProvider per test process.

OpenTelemetry allows the global providers to be set once per process, so in-process tests
share them and read what reached the in-memory exporter/reader; tests that need a fresh
global set-up (configure(), opentelemetry-instrument) run in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

ROOT = Path(__file__).resolve().parents[1]

_exporter = InMemorySpanExporter()
_reader = InMemoryMetricReader()
_installed = False


def _install() -> None:
    global _installed
    if _installed:
        return
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))
    import otelytics

    otelytics.configure(exporters=[])  # adds our span processor to the provider above
    _installed = True


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The in-memory span exporter, emptied; settings back to defaults afterwards."""
    _install()
    from otelytics import _state
    from otelytics._settings import Settings

    _exporter.clear()
    _state.set_settings(Settings())
    yield _exporter
    _state.set_settings(Settings())
    _exporter.clear()


@pytest.fixture
def metric_reader(spans: InMemorySpanExporter) -> InMemoryMetricReader:
    return _reader


@pytest.fixture
def python_run():
    """``python_run(code_or_script, *args, env=..., prefix=[...])``: a fresh interpreter."""
    return run_python


def run_python(code_or_path: str, *args: str, env: dict[str, str] | None = None,
               timeout: float = 60, cwd: Path | None = None,
               prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run Python code (or a script path) in a fresh interpreter of this environment."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELYTICS_"))}
    if cwd is None:  # never let a child write ./otelytics-data into the checkout
        full_env["OTELYTICS_DATA_DIR"] = tempfile.mkdtemp(prefix="otelytics-test-")
    full_env.update(env or {})
    if code_or_path.endswith(".py") and "\n" not in code_or_path:
        cmd = [sys.executable, code_or_path, *args]
    else:
        cmd = [sys.executable, "-c", code_or_path, *args]
    if prefix:
        cmd = [*prefix, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=cwd or ROOT)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A local S3-compatible server (moto's server mode) on 127.0.0.1.

    Yields ``{"endpoint": "127.0.0.1:PORT", "env": {...}}``; ``env`` holds the credentials and
    region a child process needs. ``s3_uri(server, bucket, prefix)`` builds a pyarrow URI.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield {"endpoint": f"{host}:{port}", "env": env}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def s3_uri(server: dict[str, str], bucket: str, prefix: str = "data") -> str:
    """Create ``bucket`` on the local server and return a pyarrow URI for ``bucket/prefix``."""
    import pyarrow.fs as pafs

    base = f"s3://{bucket}/{prefix}?endpoint_override={server['endpoint']}&scheme=http"
    fs, _ = pafs.FileSystem.from_uri(base + "&allow_bucket_creation=true")
    fs.create_dir(bucket)
    return base
