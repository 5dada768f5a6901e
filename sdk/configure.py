"""``otelytics.configure()``: one call that gives a working OpenTelemetry setup.

If the app (or ``opentelemetry-instrument``) already installed SDK providers, they are used
as they are and only our span processor is added; their processors and exporters are never
replaced or dropped. Otherwise providers are created with the configured exporters.
Calling it again only updates the capture options.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from otelytics import _state
from otelytics._batch_drops import count_batch_drops
from otelytics._metrics import HistogramBridgeExporter, aggregate
from otelytics._settings import ConfigError, Settings, env_value, resolve_settings
from otelytics.processor import MembershipSpanProcessor

__all__ = ["configure", "disable", "enable", "force_flush", "is_enabled"]

_log = logging.getLogger("otelytics")
_lock = threading.Lock()
_MARK = "_otelytics_configured"
BATCH_QUEUE_SIZE = 8192
"""Our default for ``OTEL_BSP_MAX_QUEUE_SIZE`` (the SDK's is 2048).

A tight loop of tracked calls ends spans faster than any exporter drains them for a moment;
with 2048 slots a 20,000-call loop still lost a few hundred spans now and then on a 2-core VM
(docs/exporter.md). 8192 queued tracked-call spans hold ~23 MB at most (2.8 KB each,
measured with tracemalloc); drops beyond it are counted."""


def _batch(exporter: SpanExporter) -> BatchSpanProcessor:
    if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE"):
        return BatchSpanProcessor(exporter)
    return BatchSpanProcessor(exporter, max_queue_size=BATCH_QUEUE_SIZE)
_process_metrics: Any = None

_GROUPS = {"traces": "opentelemetry_traces_exporter", "metrics": "opentelemetry_metrics_exporter"}
_ENV = {"traces": "OTEL_TRACES_EXPORTER", "metrics": "OTEL_METRICS_EXPORTER"}
_DEFAULT_EXPORTER = "parquet"


def available_exporters(signal: str) -> list[str]:
    """Names registered in the OpenTelemetry exporter entry-point group of ``signal``."""
    names = {ep.name for ep in entry_points(group=_GROUPS[signal])}
    if {"otlp_proto_grpc", "otlp_proto_http"} & names:
        names.add("otlp")
    return sorted(names)


def _entry_point_name(name: str, signal: str) -> str:
    if name != "otlp":
        return name
    proto = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    return "otlp_proto_http" if proto.strip() == "http/protobuf" else "otlp_proto_grpc"


def _load_exporter(name: str, signal: str, settings: Settings) -> Any:
    ep_name = _entry_point_name(name, signal)
    eps = list(entry_points(group=_GROUPS[signal], name=ep_name))
    if not eps:
        raise ConfigError(
            f"unknown {signal} exporter {name!r}; known: {', '.join(available_exporters(signal))}"
        )
    cls = eps[0].load()
    if name == _DEFAULT_EXPORTER and settings.data_dir:
        return cls(root=settings.data_dir)
    return cls()


def _exporter_names(signal: str, settings: Settings) -> tuple[list[Any], str]:
    """Exporters for one signal and the setting they came from (for messages)."""
    if settings.exporters is not None:
        return list(settings.exporters), "exporters / OTELYTICS_EXPORTERS"
    raw = os.environ.get(_ENV[signal])
    if raw is not None:
        names = [p.strip() for p in raw.split(",")]
        return [n for n in names if n and n != "none"], _ENV[signal]
    return [_DEFAULT_EXPORTER], "the default"


def _build_exporters(signal: str, settings: Settings, strict: bool) -> list[Any]:
    wanted, source = _exporter_names(signal, settings)
    out = []
    for item in wanted:
        if not isinstance(item, str):
            accepted = SpanExporter if signal == "traces" else (MetricExporter, MetricReader)
            if isinstance(item, accepted):
                out.append(item)
            continue
        if item == "none":
            continue
        try:
            out.append(_load_exporter(item, signal, settings))
        except ConfigError as exc:
            if strict:
                raise ConfigError(f"{source}: {exc}") from None
            _log.error("otelytics: %s: %s; continuing without it", source, exc)
        except Exception as exc:
            _log.error("otelytics: %s: exporter %r failed to start: %s", source, item, exc)
    return out


def _resource(settings: Settings) -> Resource:
    attrs = {"service.name": settings.service_name} if settings.service_name else {}
    return Resource.create(attrs)


def _install_tracing(settings: Settings, explicit_exporters: bool) -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        if getattr(provider, _MARK, False):
            return
        provider.add_span_processor(MembershipSpanProcessor())
        if explicit_exporters:
            for exp in _build_exporters("traces", settings, strict=True):
                provider.add_span_processor(_batch(exp))
        setattr(provider, _MARK, True)
        return
    sampler = (
        ParentBased(TraceIdRatioBased(settings.sample_ratio))
        if settings.sample_ratio is not None else None
    )
    exporters = _build_exporters("traces", settings, strict=explicit_exporters)
    provider = TracerProvider(resource=_resource(settings), sampler=sampler)
    provider.add_span_processor(MembershipSpanProcessor())
    for exp in exporters:
        provider.add_span_processor(_batch(exp))
    setattr(provider, _MARK, True)
    trace.set_tracer_provider(provider)


def _install_metrics(settings: Settings, explicit_exporters: bool) -> None:
    provider = metrics.get_meter_provider()
    if isinstance(provider, MeterProvider):
        return  # readers are fixed at construction: use the app's provider as it is
    resource = _resource(settings)
    readers: list[MetricReader] = []
    for exp in _build_exporters("metrics", settings, strict=explicit_exporters):
        if isinstance(exp, MetricReader):
            readers.append(exp)
        else:
            readers.append(PeriodicExportingMetricReader(HistogramBridgeExporter(exp, resource)))
    # every reader must see the bridged histogram, or none does (no double counting)
    aggregate.bridged = all(
        isinstance(getattr(r, "_exporter", None), HistogramBridgeExporter) for r in readers)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def install_process_metrics() -> None:
    global _process_metrics
    if _process_metrics is None:
        from otelytics._process import ProcessMetrics

        _process_metrics = ProcessMetrics(_state.meter())


def _instrument_llm_wanted(options: dict[str, Any]) -> bool:
    """``instrument_llm=`` kwarg, else ``OTELYTICS_INSTRUMENT_LLM``, else True."""
    value = options.pop("instrument_llm", None)
    if value is not None:
        if not isinstance(value, bool):
            raise ConfigError(f"configure(instrument_llm={value!r}): expected a bool")
        return value
    raw = os.environ.get("OTELYTICS_INSTRUMENT_LLM", "").strip().lower()
    return raw not in ("0", "false", "no", "off")


def install_enrichment(provider: Any) -> None:
    """Add the GenAI enrichment processor (cost on foreign gen_ai spans) once per provider."""
    if getattr(provider, "_otelytics_enrich", False):
        return
    try:
        from otelytics.llm import enrich
    except ImportError:
        return
    try:
        enrich.install(provider)
        provider._otelytics_enrich = True
    except Exception as exc:
        _log.warning("otelytics: GenAI enrichment not installed: %s", exc)


def instrument_llm() -> None:
    """Instrument the installed OpenAI / Anthropic SDKs; never raises into the app."""
    try:
        from otelytics.llm import instrument_installed

        instrument_installed()
    except Exception as exc:
        _log.warning("otelytics: LLM instrumentation failed: %s", exc)


def configure(**options: Any) -> Settings:
    """Set otelytics up; keyword arguments win over ``OTELYTICS_*`` variables over defaults.

    Options: ``service_name``, ``exporters`` (names such as ``"parquet"``, ``"otlp"``,
    ``"console"``, or exporter instances), ``data_dir``, ``sample_ratio``, ``capture_params``,
    ``capture_memory``, ``max_param_length``, ``redact``, ``hash_user_ids``,
    ``user_id_hash_key``, ``process_metrics``, ``enabled``, ``max_metric_names``,
    ``instrument_llm`` (default True, ``OTELYTICS_INSTRUMENT_LLM``: instrument the installed
    OpenAI and Anthropic SDKs).
    Standard ``OTEL_*`` variables (service name, resource, exporters, sampler) are honoured.
    Returns the resolved settings. Safe to call more than once.
    """
    with _lock:
        options = dict(options)
        want_llm = _instrument_llm_wanted(options)
        settings = resolve_settings(**options)
        _state.set_settings(settings)
        explicit = options.get("exporters") is not None or env_value("exporters") is not None
        _install_tracing(settings, explicit)
        count_batch_drops(trace.get_tracer_provider(), "spans")
        _state.refresh_tracer()
        _install_metrics(settings, explicit)
        if settings.process_metrics:
            install_process_metrics()
        install_enrichment(trace.get_tracer_provider())
        if want_llm:
            instrument_llm()
        return settings


def enable() -> None:
    """Record again after :func:`disable`."""
    _state.enabled = True


def disable() -> None:
    """Stop recording: tracked calls run with one flag check of overhead."""
    _state.enabled = False


def is_enabled() -> bool:
    return _state.enabled


def force_flush(timeout_millis: int = 30_000) -> bool:
    """Export everything recorded so far (spans and metrics); True when all flushed."""
    ok = True
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            try:
                ok = bool(flush(timeout_millis)) and ok
            except Exception as exc:
                _log.warning("otelytics: force_flush failed: %s", exc)
                ok = False
    # batch processors export on force_flush but do not flush their exporter: publish the
    # Parquet files too (only when the exporter is loaded; the SDK does not depend on it)
    writer = sys.modules.get("otelytics.exporter.writer")
    if writer is not None:
        writer.flush_all(timeout_millis / 1000)
    return ok
