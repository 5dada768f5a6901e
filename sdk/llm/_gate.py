"""Dependency gate for instrumentors that share one distribution.

``opentelemetry-instrument`` checks a distribution's ``instruments`` / ``instruments-any``
extras, then calls ``instrument(skip_dep_check=True)`` on every entry point of it. otelytics
holds several instrumentors (functions, OpenAI, Anthropic) in one distribution, so such an
extra would gate all of them together (and ``instruments-any`` would load the OpenAI one
without ``openai``). Each instrumentor here checks its own ``instrumentation_dependencies()``
even when told to skip: without the SDK it quietly does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

__all__ = ["GatedInstrumentor"]

_log = logging.getLogger("otelytics")


class GatedInstrumentor:
    """Mixin placed before ``BaseInstrumentor``."""

    def instrument(self, **kwargs: Any) -> Any:
        if kwargs.get("skip_dep_check"):
            conflict = get_dependency_conflicts(self.instrumentation_dependencies())  # type: ignore[attr-defined]
            if conflict is not None:
                _log.debug("otelytics: %s not loaded: %s", type(self).__name__, conflict)
                return None
        return super().instrument(**kwargs)  # type: ignore[misc]
