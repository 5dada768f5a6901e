"""Safe rendering of call parameters: bound by signature, size-capped, secrets redacted.

Rendering runs user ``__repr__`` code, which may raise, loop over huge containers or leak
secrets; everything here is defensive and bounded.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

from otelytics.semconv.attributes import OTELYTICS_ESTIMATOR_PARAM

REDACTED = "[REDACTED]"

_SECRET_NAME_PARTS = (
    "password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "api-key",
    "authorization", "auth", "credential", "private_key", "privatekey", "cookie",
    "signature", "access_key", "session_key", "client_secret",
)
_SECRET_VALUE = re.compile(
    r"^(?:sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,}|Bearer\s+\S+|Basic\s+\S+|"
    r"gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|"
    r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+)"
)
_MAX_ITEMS = 20
_MAX_DEPTH = 3
# object.__repr__ / function reprs carry a memory address: "<random.Random object at 0x7f..>",
# "<function f at 0x7f..>". Every value would be unique (unbounded cardinality in analysis),
# so the address goes: "<random.Random>", "<function f>".
_ADDRESS = re.compile(r"\s+(?:object\s+)?at\s+0x[0-9A-Fa-f]+")


def _without_address(text: str) -> str:
    return _ADDRESS.sub("", text) if "0x" in text else text


class SecretMatcher:
    """Decides whether a parameter or mapping key names a secret."""

    __slots__ = ("_parts",)

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._parts = tuple(p.lower() for p in (*_SECRET_NAME_PARTS, *extra) if p)

    def __call__(self, name: str) -> bool:
        low = name.lower()
        return any(p in low for p in self._parts)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def render(value: Any, limit: int, is_secret: Callable[[str], bool], depth: int = 0) -> str:
    """A readable, bounded, secret-free string for ``value``; never raises."""
    try:
        if value is None or isinstance(value, (bool, int, float)):
            return repr(value)
        if isinstance(value, str):
            return REDACTED if _SECRET_VALUE.match(value) else _truncate(value, limit)
        if isinstance(value, (bytes, bytearray)):
            return f"<{type(value).__name__} len={len(value)}>"
        if depth < _MAX_DEPTH and isinstance(value, dict):
            parts = []
            for i, (k, v) in enumerate(value.items()):
                if i >= _MAX_ITEMS:
                    parts.append(f"…+{len(value) - i}")
                    break
                shown = REDACTED if isinstance(k, str) and is_secret(k) else render(
                    v, limit, is_secret, depth + 1)
                parts.append(f"{k!r}: {shown}")
            return _truncate("{" + ", ".join(parts) + "}", limit)
        if depth < _MAX_DEPTH and isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)[:_MAX_ITEMS] if not isinstance(value, (list, tuple)) else value
            parts = [render(v, limit, is_secret, depth + 1) for v in items[:_MAX_ITEMS]]
            if len(value) > _MAX_ITEMS:
                parts.append(f"…+{len(value) - _MAX_ITEMS}")
            open_, close = {list: "[]", tuple: "()"}.get(type(value), "{}")
            return _truncate(open_ + ", ".join(parts) + close, limit)
        shape = getattr(value, "shape", None)
        if shape is not None and not callable(shape):
            return _truncate(f"<{type(value).__name__} shape={tuple(shape)!r}>", limit)
        text = _without_address(repr(value))
        return REDACTED if _SECRET_VALUE.match(text) else _truncate(text, limit)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def attribute_value(value: Any, limit: int, is_secret: Callable[[str], bool]) -> Any:
    """Numbers and booleans stay typed (analysis can aggregate them); the rest is rendered."""
    if isinstance(value, (bool, float)):
        return value
    if isinstance(value, int) and abs(value) < 2**63:
        return value
    return render(value, limit, is_secret)


def capture(
    sig: inspect.Signature | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    skip_first: bool,
    limit: int,
    is_secret: Callable[[str], bool],
) -> dict[str, Any]:
    """Span attributes ``otelytics.estimator.param.<name>`` for one call."""
    out: dict[str, Any] = {}
    if sig is not None:
        try:
            bound = sig.bind_partial(*args, **kwargs).arguments
        except TypeError:
            bound = {f"arg{i}": a for i, a in enumerate(args)} | kwargs
    else:
        bound = {f"arg{i}": a for i, a in enumerate(args)} | kwargs
    for i, (name, value) in enumerate(bound.items()):
        if skip_first and i == 0:
            continue
        key = f"{OTELYTICS_ESTIMATOR_PARAM}.{name}"
        if is_secret(name):
            out[key] = REDACTED
        elif sig is not None and name in sig.parameters and sig.parameters[name].kind in (
            inspect.Parameter.VAR_KEYWORD,
        ):
            for k, v in value.items():
                out[f"{OTELYTICS_ESTIMATOR_PARAM}.{k}"] = (
                    REDACTED if is_secret(k) else attribute_value(v, limit, is_secret))
        else:
            out[key] = attribute_value(value, limit, is_secret)
    return out


def first_sized_length(args: tuple[Any, ...], skip_first: bool) -> int | None:
    """``len()`` of the first sized positional argument, skipping strings, bytes, self/cls."""
    for i, a in enumerate(args):
        if skip_first and i == 0:
            continue
        if isinstance(a, (str, bytes, bytearray)):
            continue
        if hasattr(type(a), "__len__"):
            try:
                n = len(a)
            except Exception:
                continue
            if isinstance(n, int):
                return n
    return None
