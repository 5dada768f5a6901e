"""Settings: keyword arguments, then ``OTELYTICS_*`` variables, then defaults.

A bad keyword argument is a programming error and raises :class:`ConfigError`. A bad
environment variable must not stop the host app: it is reported once, naming the variable,
and the default is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["ConfigError", "Settings", "resolve_settings"]

_log = logging.getLogger("otelytics")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved otelytics configuration. Field docs name the environment variable."""

    enabled: bool = True
    """OTELYTICS_ENABLED: record anything at all."""
    service_name: str | None = None
    """OTELYTICS_SERVICE_NAME, else OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES."""
    exporters: tuple[Any, ...] | None = None
    """OTELYTICS_EXPORTERS (comma list, both signals), else OTEL_TRACES_EXPORTER and
    OTEL_METRICS_EXPORTER per signal, else ``parquet``. Names or exporter instances."""
    data_dir: str | None = None
    """OTELYTICS_DATA_DIR: root of the Parquet dataset (default ``./otelytics-data``)."""
    sample_ratio: float | None = None
    """OTELYTICS_SAMPLE_RATIO: parent-based trace-id ratio; unset honours OTEL_TRACES_SAMPLER."""
    capture_params: bool = False
    """OTELYTICS_CAPTURE_PARAMS: record call parameters (secrets redacted)."""
    capture_memory: bool = False
    """OTELYTICS_CAPTURE_MEMORY: record RSS delta and tracemalloc peak per call."""
    capture_code: bool = False
    """OTELYTICS_CAPTURE_CODE: record code.function.name, code.file.path, code.line.number."""
    max_param_length: int = 256
    """OTELYTICS_MAX_PARAM_LENGTH: characters kept of one rendered parameter."""
    redact: tuple[str, ...] = ()
    """OTELYTICS_REDACT: extra parameter-name fragments to redact (comma list)."""
    hash_user_ids: bool = False
    """OTELYTICS_HASH_USER_IDS: record ``user.id`` as a keyed hash."""
    user_id_hash_key: str | None = field(default=None, repr=False)
    """OTELYTICS_USER_ID_HASH_KEY: key of that hash (a built-in key when unset)."""
    process_metrics: bool = False
    """OTELYTICS_PROCESS_METRICS: observable ``process.*`` gauges from psutil."""
    max_metric_names: int = 1000
    """OTELYTICS_MAX_METRIC_NAMES: distinct operation names in metric labels before ``_other``."""


# name -> (parser, env var)
def _parse_bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_ratio(raw: str) -> float:
    v = float(raw)
    if not 0.0 <= v <= 1.0:
        raise ValueError("expected a number between 0 and 1")
    return v


def _parse_positive_int(raw: str) -> int:
    v = int(raw)
    if v <= 0:
        raise ValueError("expected a positive integer")
    return v


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _parse_str(raw: str) -> str:
    if not raw.strip():
        raise ValueError("expected a non-empty value")
    return raw.strip()


_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "enabled": ("OTELYTICS_ENABLED", _parse_bool),
    "service_name": ("OTELYTICS_SERVICE_NAME", _parse_str),
    "exporters": ("OTELYTICS_EXPORTERS", _parse_list),
    "data_dir": ("OTELYTICS_DATA_DIR", _parse_str),
    "sample_ratio": ("OTELYTICS_SAMPLE_RATIO", _parse_ratio),
    "capture_params": ("OTELYTICS_CAPTURE_PARAMS", _parse_bool),
    "capture_memory": ("OTELYTICS_CAPTURE_MEMORY", _parse_bool),
    "capture_code": ("OTELYTICS_CAPTURE_CODE", _parse_bool),
    "max_param_length": ("OTELYTICS_MAX_PARAM_LENGTH", _parse_positive_int),
    "redact": ("OTELYTICS_REDACT", _parse_list),
    "hash_user_ids": ("OTELYTICS_HASH_USER_IDS", _parse_bool),
    "user_id_hash_key": ("OTELYTICS_USER_ID_HASH_KEY", _parse_str),
    "process_metrics": ("OTELYTICS_PROCESS_METRICS", _parse_bool),
    "max_metric_names": ("OTELYTICS_MAX_METRIC_NAMES", _parse_positive_int),
}

_reported: set[tuple[str, str]] = set()


def env_value(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The parsed value of one setting's variable, or ``None`` when unset or invalid."""
    env_name, parse = _ENV[name]
    raw = (os.environ if environ is None else environ).get(env_name)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        if (env_name, raw) not in _reported:
            _reported.add((env_name, raw))
            _log.warning("otelytics: ignoring %s=%r (%s); using the default", env_name, raw, exc)
        return None


def _check_kwarg(name: str, value: Any) -> Any:
    """Validate one keyword argument; raise ConfigError naming it."""
    default = getattr(Settings(), name)
    try:
        if name in {"enabled", "capture_params", "capture_memory", "capture_code",
                    "hash_user_ids", "process_metrics"}:
            if not isinstance(value, bool):
                raise TypeError("expected a bool")
        elif name == "sample_ratio":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError("expected a number")
            value = _parse_ratio(str(value))
        elif name in {"max_param_length", "max_metric_names"}:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise TypeError("expected a positive integer")
        elif name in {"redact", "exporters"}:
            if isinstance(value, str):
                value = _parse_list(value)
            value = tuple(value)
            for item in value:
                if not isinstance(item, str) and not (
                        (name == "exporters" and callable(getattr(item, "export", None)))
                        or hasattr(item, "collect")):
                    raise TypeError(f"{item!r} is neither a name nor an exporter/reader")
        elif name in {"service_name", "data_dir", "user_id_hash_key"}:
            value = _parse_str(os.fspath(value)) if value is not None else default
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"configure({name}={value!r}): {exc}") from None
    return value


def resolve_settings(base: Settings | None = None, **kwargs: Any) -> Settings:
    """Merge keyword arguments over environment variables over ``base`` (or defaults)."""
    known = {f.name for f in fields(Settings)}
    unknown = set(kwargs) - known
    if unknown:
        raise ConfigError(
            f"configure() got unknown option(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for name in known:
        if name in kwargs and kwargs[name] is not None:
            values[name] = _check_kwarg(name, kwargs[name])
        elif name in _ENV:
            env = env_value(name)
            if env is not None:
                values[name] = env
    return replace(base or Settings(), **values)
