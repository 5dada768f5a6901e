"""The otelytics distro and configurator for ``opentelemetry-instrument``.

``opentelemetry-instrument python app.py`` alone gives a working setup: spans and metrics go
to the local Parquet dataset unless ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` say
otherwise (``parquet,otlp`` writes locally and ships at once). A misconfigured exporter name or
OTLP protocol is reported in one line naming the variable, and the rest keeps working.
"""

from __future__ import annotations

import logging
import os

from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from otelytics import _state
from otelytics._batch_drops import count_batch_drops
from otelytics._metrics import HistogramBridgeExporter, aggregate
from otelytics._settings import resolve_settings
from otelytics.configure import (
    BATCH_QUEUE_SIZE,
    available_exporters,
    install_enrichment,
    install_process_metrics,
)
from otelytics.processor import MembershipSpanProcessor

__all__ = ["OtelyticsConfigurator", "OtelyticsDistro"]

_log = logging.getLogger("otelytics")
_LOG_GROUP = "opentelemetry_logs_exporter"
_SIGNALS = {
    "OTEL_TRACES_EXPORTER": "traces",
    "OTEL_METRICS_EXPORTER": "metrics",
    "OTEL_LOGS_EXPORTER": "logs",
}
_PROTOCOLS = {"grpc", "http/protobuf"}


class OtelyticsDistro(BaseDistro):
    """Defaults: every signal to the Parquet dataset; our configurator; a batch queue of
    ``BATCH_QUEUE_SIZE`` spans unless ``OTEL_BSP_MAX_QUEUE_SIZE`` says otherwise."""

    def _configure(self, **kwargs: object) -> None:
        for var in _SIGNALS:
            os.environ.setdefault(var, "parquet")
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", "otelytics")
        os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", str(BATCH_QUEUE_SIZE))


def _known(signal: str) -> list[str]:
    if signal != "logs":
        return available_exporters(signal)
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group=_LOG_GROUP)}
    if {"otlp_proto_grpc", "otlp_proto_http"} & names:
        names.add("otlp")
    return sorted(names)


def check_environment() -> list[str]:
    """Fix what would make the SDK set-up fail as a whole; return one message per problem.

    The stock configurator aborts on an unknown exporter name or an unsupported OTLP
    protocol, leaving the app without telemetry and without instrumentation; we drop the bad
    value instead and say so.
    """
    problems = []
    for var in ("OTEL_EXPORTER_OTLP_PROTOCOL", *(
            f"OTEL_EXPORTER_OTLP_{s.upper()}_PROTOCOL" for s in ("traces", "metrics", "logs"))):
        value = os.environ.get(var)
        if value is not None and value.strip() not in _PROTOCOLS:
            problems.append(
                f"otelytics: {var}={value!r} is not supported (use grpc or http/protobuf); "
                "using grpc")
            os.environ[var] = "grpc"
    for var, signal in _SIGNALS.items():
        raw = os.environ.get(var)
        if raw is None:
            continue
        names = [p.strip() for p in raw.split(",") if p.strip()]
        known = _known(signal)
        bad = [n for n in names if n != "none" and n not in known]
        if bad:
            problems.append(
                f"otelytics: {var} names unknown exporter(s) {', '.join(map(repr, bad))}; "
                f"known: {', '.join(known)}; continuing without them")
            os.environ[var] = ",".join(n for n in names if n not in bad) or "none"
    return problems


class OtelyticsConfigurator(_OTelSDKConfigurator):
    """The SDK's own set-up, plus our span processor and settings, minus the silent failures."""

    def _configure(self, **kwargs: object) -> None:
        for problem in check_environment():
            _log.error(problem)
        super()._configure(**kwargs)
        settings = resolve_settings()
        _state.set_settings(settings)
        _state.refresh_tracer()
        provider = trace.get_tracer_provider()
        add = getattr(provider, "add_span_processor", None)
        if add is not None and not getattr(provider, "_otelytics_configured", False):
            add(MembershipSpanProcessor())
            provider._otelytics_configured = True  # type: ignore[attr-defined]
        install_enrichment(provider)
        count_batch_drops(provider, "spans")
        count_batch_drops(get_logger_provider(), "logs")
        _bridge_metric_readers()
        if settings.process_metrics:
            install_process_metrics()


def _bridge_metric_readers() -> None:
    """Wrap the exporters of the readers the SDK just built with the histogram bridge.

    Reaches into ``MeterProvider._sdk_config`` and ``PeriodicExportingMetricReader._exporter``;
    if either is missing (another SDK version), durations go through a plain histogram.
    """
    try:
        provider = metrics.get_meter_provider()
        config = getattr(provider, "_sdk_config", None)
        readers = list(getattr(config, "metric_readers", None) or ())
        if not readers or not all(
                isinstance(r, PeriodicExportingMetricReader) and hasattr(r, "_exporter")
                for r in readers):
            return
        for r in readers:
            if not isinstance(r._exporter, HistogramBridgeExporter):
                r._exporter = HistogramBridgeExporter(r._exporter, config.resource)
        aggregate.bridged = True
    except Exception as exc:
        _log.debug("otelytics: histogram bridge not installed: %s", exc)
