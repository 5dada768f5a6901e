"""``with otelytics.session("chat", user_id=...) as s``: group work by session and user.

Every span started inside carries ``session.id`` (and ``user.id``, hashed when configured),
in threads that propagate the context and in asyncio tasks. ``s.summary()`` is computed in
process from the tracked calls and LLM calls that ran inside.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from otelytics import _state
from otelytics._call import Call, Spec, attach, detach, finish, start
from otelytics.privacy import hash_user_id
from otelytics.semconv import attributes as a

__all__ = ["Session", "SessionSummary", "session"]

_SESSION = a.OtelyticsSpanTypeValues.SESSION.value
_MAX_DURATIONS = 10_000  # reservoir size for the in-process percentiles


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What happened inside one session, computed in process."""

    session_id: str
    name: str
    calls: int
    errors: int
    error_rate: float
    total_duration_s: float
    avg_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None
    max_duration_s: float | None
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_calls: int
    wall_time_s: float


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (the same rule as DuckDB quantile_cont)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _rollup_tuple(call: Call) -> tuple[int, int, int, float, int]:
    r = call.rollup
    if r is None:
        return (0, 0, 0, 0.0, 0)
    return (r.llm_calls, r.input_tokens, r.output_tokens, r.cost_usd, r.unpriced_calls)


class Session:
    """A session; use :func:`session` to create one."""

    def __init__(self, name: str, session_id: str | None, user_id: str | None,
                 attributes: dict[str, Any] | None) -> None:
        self.name = name
        self.id = session_id or uuid.uuid4().hex
        st = _state.settings
        self.user_id = (
            None if user_id is None
            else hash_user_id(user_id, st.user_id_hash_key) if st.hash_user_ids
            else str(user_id)
        )
        self._attributes = dict(attributes or {})
        self._lock = threading.Lock()
        self._calls = 0
        self._errors = 0
        self._total = 0.0
        self._max: float | None = None
        self._durations: list[float] = []
        self._call: Call | None = None
        self._span: Any = None
        self._token: object | None = None
        self._t0: float | None = None
        self._t1: float | None = None
        self._llm = (0, 0, 0, 0.0, 0)  # calls, input, output, cost, unpriced (after exit)

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> Session:
        self._t0 = time.perf_counter()
        if _state.enabled:
            spec = Spec(f"session {self.name}", {
                a.OTELYTICS_SPAN_TYPE: _SESSION,
                a.OTELYTICS_SESSION_NAME: self.name,
                **self._attributes,
            }, record_cpu=False)
            spec.metric_name = None
            self._call = start(spec, session=self)
            if self._call is not None:
                self._span = self._call.span
                self._token = attach(self._call)
        return self

    def __exit__(self, et: type | None, exc: BaseException | None, tb: object) -> None:
        self._t1 = time.perf_counter()
        call, self._call = self._call, None
        if call is not None:
            detach(self._token)
            self._llm = _rollup_tuple(call)
            finish(call, exc)

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(self, et: type | None, exc: BaseException | None, tb: object) -> None:
        self.__exit__(et, exc, tb)

    # -- accounting (called by tracked calls inside) -----------------------------------------
    def _record_call(self, duration: float, failed: bool) -> None:
        with self._lock:
            self._calls += 1
            self._errors += failed
            self._total += duration
            if self._max is None or duration > self._max:
                self._max = duration
            if len(self._durations) < _MAX_DURATIONS:
                self._durations.append(duration)
            else:  # reservoir sampling keeps percentiles unbiased past the cap
                j = int.from_bytes(uuid.uuid4().bytes[:4], "big") % self._calls
                if j < _MAX_DURATIONS:
                    self._durations[j] = duration

    def summary(self) -> SessionSummary:
        """Calls, errors, durations, tokens and cost of this session so far."""
        with self._lock:
            calls, errors, total, mx = self._calls, self._errors, self._total, self._max
            durations = sorted(self._durations)
        call = self._call
        llm = _rollup_tuple(call) if call is not None else self._llm
        end = self._t1 if self._t1 is not None else time.perf_counter()
        return SessionSummary(
            session_id=self.id,
            name=self.name,
            calls=calls,
            errors=errors,
            error_rate=errors / calls if calls else 0.0,
            total_duration_s=total,
            avg_duration_s=total / calls if calls else None,
            p50_duration_s=_percentile(durations, 0.5),
            p95_duration_s=_percentile(durations, 0.95),
            max_duration_s=mx,
            llm_calls=llm[0],
            input_tokens=llm[1],
            output_tokens=llm[2],
            cost_usd=llm[3],
            unpriced_calls=llm[4],
            wall_time_s=(end - self._t0) if self._t0 is not None else 0.0,
        )


def session(name: str, *, session_id: str | None = None, user_id: str | None = None,
            attributes: dict[str, Any] | None = None) -> Session:
    """Open a session: ``with otelytics.session("chat", user_id="u1") as s: ...``.

    ``session_id`` defaults to a new random id; pass your own to join work from several
    requests into one session. ``user_id`` is hashed when ``hash_user_ids`` is configured.
    """
    return Session(name, session_id, user_id, attributes)
