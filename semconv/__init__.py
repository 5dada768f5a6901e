"""otelytics semantic conventions: the one source of truth for every name we emit.

``otelytics.semconv.attributes`` holds attribute names, ``otelytics.semconv.metrics`` metric
specs with units and bucket boundaries. Both mirror the YAML registry in ``model/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from otelytics.semconv import attributes, metrics
from otelytics.semconv.metrics import MetricSpec

__all__ = ["MetricSpec", "attributes", "metrics", "model_paths"]


def model_paths() -> list[Path]:
    """Paths of the YAML model files (ours first, then the official reference list)."""
    base = resources.files("otelytics.semconv") / "model"
    return [Path(str(base / "registry.yaml")), Path(str(base / "reference.yaml"))]
