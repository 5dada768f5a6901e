"""Zero-code function tracking from ``OTELYTICS_INSTRUMENT``.

``OTELYTICS_INSTRUMENT="pkg.mod:func,pkg.mod:Class.method,pkg.mod:*"`` names what to track.

Loaded by ``opentelemetry-instrument`` through the ``opentelemetry_instrumentor`` entry point
``otelytics_functions``; it always loads (no third-party dependency). Modules already imported
are patched at once, the others when they are imported. ``uninstrument()`` puts every
original back.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
from collections.abc import Collection
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otelytics.track import track

__all__ = ["ENV_VAR", "FunctionInstrumentor", "parse_targets"]

ENV_VAR = "OTELYTICS_INSTRUMENT"
_log = logging.getLogger("otelytics")


def parse_targets(raw: str) -> dict[str, list[str]]:
    """``"a.b:f,a.b:C.m,c:*"`` -> ``{"a.b": ["f", "C.m"], "c": ["*"]}``; bad items raise."""
    out: dict[str, list[str]] = {}
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        mod, sep, attr = item.partition(":")
        if not sep or not mod or not attr or attr.count(".") > 1 or " " in item:
            raise ValueError(
                f"{ENV_VAR}: {item!r} is not 'module:function', 'module:Class.method' "
                "or 'module:*'")
        out.setdefault(mod, []).append(attr)
    return out


def _defined_here(obj: Any, module: ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def _public_functions(owner: Any) -> list[str]:
    names = []
    for name, raw in vars(owner).items():
        if name.startswith("_"):
            continue
        func = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
        if inspect.isfunction(func):
            names.append(name)
    return names


class FunctionInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Wraps the functions named in ``OTELYTICS_INSTRUMENT`` (or ``targets=``) with ``track``."""

    def __init__(self) -> None:
        # BaseInstrumentor is a singleton: __init__ runs on every FunctionInstrumentor() call.
        if getattr(self, "_patched", None) is not None:
            return
        super().__init__()
        self._patched: list[tuple[Any, str, Any]] = []
        self._active = False
        self._lock = threading.Lock()

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        raw = kwargs.get("targets")
        if raw is None:
            raw = os.environ.get(ENV_VAR, "")
        if not isinstance(raw, str):
            raw = ",".join(raw)
        try:
            targets = parse_targets(raw)
        except ValueError as exc:
            _log.error("otelytics: %s", exc)
            return
        self._active = True
        for mod_name, attrs in targets.items():
            if mod_name in sys.modules:
                self._patch_module(sys.modules[mod_name], attrs)
            else:
                wrapt.register_post_import_hook(
                    lambda module, attrs=attrs: self._patch_module(module, attrs), mod_name)

    def _uninstrument(self, **kwargs: Any) -> None:
        with self._lock:
            self._active = False
            for owner, name, original in reversed(self._patched):
                setattr(owner, name, original)
            self._patched.clear()

    def _patch_module(self, module: ModuleType, attrs: list[str]) -> None:
        with self._lock:
            if not self._active:
                return
            for attr in attrs:
                try:
                    self._patch(module, attr)
                except Exception as exc:
                    _log.error("otelytics: %s=%s:%s: %s", ENV_VAR, module.__name__, attr, exc)

    def _patch(self, module: ModuleType, attr: str) -> None:
        if attr == "*":
            for name in _public_functions(module):
                if _defined_here(getattr(module, name), module):
                    self._wrap(module, name)
            classes = [v for k, v in vars(module).items() if inspect.isclass(v)
                       and not k.startswith("_") and _defined_here(v, module)]
            for cls in classes:
                for name in _public_functions(cls):
                    self._wrap(cls, name)
            return
        owner: Any = module
        if "." in attr:
            cls_name, attr = attr.split(".")
            owner = getattr(module, cls_name, None)
            if not inspect.isclass(owner):
                raise LookupError(f"{module.__name__} has no class {cls_name!r}")
        if attr not in vars(owner):
            raise LookupError(f"{getattr(owner, '__name__', owner)} has no attribute {attr!r}")
        self._wrap(owner, attr)

    def _wrap(self, owner: Any, name: str) -> None:
        original = vars(owner)[name]
        wrapped = track(original)
        if wrapped is original:
            return
        setattr(owner, name, wrapped)
        self._patched.append((owner, name, original))
