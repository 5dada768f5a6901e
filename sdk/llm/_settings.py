"""LLM instrumentation settings, read from the environment once and on :func:`refresh`.

- ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: ``true`` / ``span_only`` /
  ``span_and_event`` put prompts and completions on the span (we emit no events, so
  ``event_only`` records nothing); anything else, or unset, records no content.
- ``OTELYTICS_MAX_CONTENT_LENGTH``: characters kept of one content attribute (default 16384).
- ``OTELYTICS_FINGERPRINT_KEY``: key of the keyed request fingerprint (default: a random key
  kept in ``~/.config/otelytics/fingerprint.key``, created on first use).
- ``OTELYTICS_OPENAI_INCLUDE_USAGE``: add ``stream_options={"include_usage": True}`` to
  OpenAI chat streams that did not ask for it, so usage is never missing.
- ``OTELYTICS_LLM_FINGERPRINT``: ``false`` turns the fingerprint off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LLMSettings", "current", "refresh"]

_log = logging.getLogger("otelytics")
_TRUE = {"1", "true", "yes", "on"}
_SPAN_MODES = {"true", "span_only", "span_and_event"}


@dataclass(frozen=True, slots=True)
class LLMSettings:
    capture_content: bool = False
    max_content_length: int = 16384
    fingerprint: bool = True
    fingerprint_key: bytes = b""
    openai_include_usage: bool = False


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() in _TRUE


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        v = int(raw)
        if v > 0:
            return v
    except ValueError:
        pass
    _log.warning("otelytics: ignoring %s=%r (expected a positive integer)", name, raw)
    return default


def _default_key() -> bytes:
    """A random per-install key kept in the user's config dir; a derived one if unwritable."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = Path(base) / "otelytics" / "fingerprint.key"
    try:
        if path.exists():
            data = path.read_bytes().strip()
            if data:
                return data
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key
    except FileExistsError:
        try:
            return path.read_bytes().strip()
        except OSError:
            pass
    except OSError:
        pass
    seed = f"otelytics:{socket.gethostname()}:{sys.prefix}".encode()
    return hashlib.sha256(seed).hexdigest().encode()


def _resolve() -> LLMSettings:
    mode = (os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT") or "").strip()
    key_env = os.environ.get("OTELYTICS_FINGERPRINT_KEY")
    fingerprint = _bool("OTELYTICS_LLM_FINGERPRINT", True)
    key = key_env.encode() if key_env else (_default_key() if fingerprint else b"")
    if len(key) > 64:  # BLAKE2b keys are at most 64 bytes
        key = hashlib.sha256(key).digest()
    return LLMSettings(
        capture_content=mode.lower() in _SPAN_MODES,
        max_content_length=_int("OTELYTICS_MAX_CONTENT_LENGTH", 16384),
        fingerprint=fingerprint,
        fingerprint_key=key,
        openai_include_usage=_bool("OTELYTICS_OPENAI_INCLUDE_USAGE", False),
    )


_current: LLMSettings | None = None


def current() -> LLMSettings:
    global _current
    if _current is None:
        _current = _resolve()
    return _current


def refresh() -> LLMSettings:
    """Read the environment again (after a test or the app changed it)."""
    global _current
    _current = _resolve()
    return _current
