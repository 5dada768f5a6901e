"""The scaffolding every LLM SDK instrumentor shares: the dependency gate, a ``Patcher``
kept across ``instrument()`` / ``uninstrument()`` cycles, and the restore on uninstrument.

A subclass names its ``_requires`` and says what to wrap in ``_patch(patcher)``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otelytics.llm._gate import GatedInstrumentor
from otelytics.llm._wrap import Patcher

__all__ = ["SdkInstrumentor"]


class SdkInstrumentor(GatedInstrumentor, BaseInstrumentor):  # type: ignore[misc]
    """Base of the LLM SDK instrumentors; ``uninstrument()`` restores what ``_patch`` wrapped."""

    _requires: tuple[str, ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self._requires

    def _patch(self, patcher: Patcher) -> None:
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        self._patcher = getattr(self, "_patcher", None) or Patcher()
        self._patch(self._patcher)

    def _uninstrument(self, **kwargs: Any) -> None:
        patcher = getattr(self, "_patcher", None)
        if patcher is not None:
            patcher.restore()
