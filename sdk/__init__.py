"""otelytics: OpenTelemetry-native analytics for Python functions and LLM calls.

>>> import otelytics
>>> otelytics.configure(service_name="trainer")
>>> @otelytics.track
... def fit(X, y): ...
>>> with otelytics.session("chat", user_id="u1") as s:
...     fit([1, 2], [3, 4])
"""

from __future__ import annotations

__version__ = "0.1.0"

from otelytics._settings import ConfigError, Settings
from otelytics.configure import configure, disable, enable, force_flush, is_enabled
from otelytics.llm.call import LLMCall, llm_call, tool
from otelytics.session import Session, SessionSummary, session
from otelytics.track import TrackedCall, track
from otelytics.workflow import workflow

__all__ = [
    "ConfigError",
    "LLMCall",
    "Session",
    "SessionSummary",
    "Settings",
    "TrackedCall",
    "__version__",
    "configure",
    "disable",
    "enable",
    "force_flush",
    "is_enabled",
    "llm_call",
    "session",
    "tool",
    "track",
    "workflow",
]
