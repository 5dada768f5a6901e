"""otelytics: OpenTelemetry-native analytics for Python functions and LLM calls."""

from __future__ import annotations

__version__ = "0.1.0"
