"""Ranked, evidence-backed suggestions over an otelytics dataset, and their lifecycle.

``suggest(ds)`` runs every rule of :mod:`otelytics.analysis.suggest_rules` over the dataset's
``spans`` view (already restricted to a window and filters) and returns a
:class:`SuggestionReport`: frozen :class:`Suggestion` records, ranked by priority. It is a pure
function of (dataset, window, filters, config): no clock, no randomness, deterministic order.

Each suggestion has a *fingerprint* made of its rule id and its subject (what it is about, e.g.
a request fingerprint or an operation) and never of its figures, so that ``with_lifecycle``
can say, against a previous run's JSON, which findings are new, still there or resolved.

Priority is unit-free so that dollars, seconds and data-quality counts rank together:
``priority = 100 * confidence * impact_share``. The impact share of a cost, performance or
workflow finding is the larger of its saving in dollars over the period's total cost and its
saving in seconds over the total root-span time; of a reliability finding, the largest of
those and the affected calls over the calls in scope; of a data-quality finding, the affected
share.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Category",
    "Resolved",
    "SuggestConfig",
    "Suggestion",
    "SuggestionReport",
    "Totals",
    "fingerprint",
    "load_report",
    "suggest",
    "with_lifecycle",
]

SCHEMA_VERSION = 1
"""Version of the suggestions JSON document (``docs/suggestions.md``); bumped on breaking change."""


class Category(enum.StrEnum):
    """What kind of improvement a suggestion is about."""

    COST = "cost"
    PERFORMANCE = "performance"
    RELIABILITY = "reliability"
    WORKFLOW = "workflow efficiency"
    DATA_QUALITY = "data quality"


@dataclass(frozen=True, slots=True)
class SuggestConfig:
    """Thresholds of the rules; the defaults are documented in ``docs/suggestions.md``."""

    min_repeats: int = 5
    cache_min_input_tokens: int = 1024
    cache_min_calls: int = 10
    cache_miss_share: float = 0.5
    cheap_min_calls: int = 10
    cheap_max_output_p90: int = 256
    cheap_max_error_rate: float = 0.05
    cheap_min_saving_share: float = 0.2
    cheaper_models: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {
        "openai": ("gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini"),
        "anthropic": ("claude-haiku-4-5", "claude-3-5-haiku"),
        "google": ("gemini-2.5-flash", "gemini-2.5-flash-lite"),
    })
    dominant_share: float = 0.5
    dominant_min_calls: int = 5
    cutoff_min_calls: int = 3
    cutoff_min_rate: float = 0.05
    retry_min_attempts: int = 3
    retry_max_gap_s: float = 120.0
    storm_min_per_minute: int = 3
    fallback_min_calls: int = 3
    fallback_min_models: int = 2
    fallback_window_s: float = 180.0
    hotspot_min_calls: int = 20
    hotspot_min_rate: float = 0.05
    wilson_z: float = 1.96
    slow_min_calls: int = 20
    slow_ratio: float = 3.0
    slow_min_p95_s: float = 0.1
    regression_ratio: float = 1.5
    regression_min_calls: int = 20
    regression_min_delta_s: float = 0.05
    sequential_min_siblings: int = 5
    sequential_min_saving_s: float = 0.1
    session_min_sessions: int = 10
    session_z: float = 3.5
    batch_min_calls_per_day: float = 100.0
    batch_min_saving_share: float = 0.05
    """Below this share of the standard price, a batch price is not worth the wait."""
    quality_min_share: float = 0.01
    max_examples: int = 3
    max_per_rule: int = 10


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One finding: what, why (evidence), how much (saving), how sure, and how to verify a fix."""

    rule: str
    category: Category
    title: str
    subject: Mapping[str, str]
    fingerprint: str
    detail: str
    fix: str
    validate: str
    confidence: float
    affected: int
    saving_usd: float | None
    saving_seconds: float | None
    evidence: Mapping[str, Any]
    examples: tuple[str, ...]
    priority: float = 0.0
    status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["category"] = str(self.category)
        d["subject"] = dict(self.subject)
        d["evidence"] = dict(self.evidence)
        d["examples"] = list(self.examples)
        return d


@dataclass(frozen=True, slots=True)
class Resolved:
    """A finding of the previous run that this run no longer sees."""

    fingerprint: str
    rule: str
    title: str


@dataclass(frozen=True, slots=True)
class Totals:
    """Denominators of the impact shares, over the window and filters."""

    spans: int
    llm_calls: int
    cost_usd: float
    root_seconds: float
    start: dt.datetime | None
    end: dt.datetime | None

    @property
    def days(self) -> float:
        """Length of the period in days (at least one hour's worth)."""
        if self.start is None or self.end is None:
            return 0.0
        return max((self.end - self.start).total_seconds(), 3600.0) / 86400.0


@dataclass(frozen=True, slots=True)
class SuggestionReport:
    """Ranked suggestions of one run, with the period and totals they refer to."""

    suggestions: tuple[Suggestion, ...]
    totals: Totals
    filters: Mapping[str, Any]
    resolved: tuple[Resolved, ...] = ()
    compared: bool = False
    omitted: Mapping[str, int] = field(default_factory=dict)
    omitted_fingerprints: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "otelytics.suggestions",
            "period": {
                "start": t.start.isoformat() if t.start else None,
                "end": t.end.isoformat() if t.end else None,
                "days": round(t.days, 6),
            },
            "filters": dict(self.filters),
            "totals": {"spans": t.spans, "llm_calls": t.llm_calls,
                       "cost_usd": t.cost_usd, "root_seconds": t.root_seconds},
            "compared_with_previous": self.compared,
            "omitted": dict(self.omitted),
            "omitted_fingerprints": list(self.omitted_fingerprints),
            "suggestions": [s.to_dict() for s in self.suggestions],
            "resolved": [dataclasses.asdict(r) for r in self.resolved],
        }


def fingerprint(rule: str, subject: Mapping[str, Any]) -> str:
    """Stable id of a finding: its rule and subject, never its figures."""
    text = rule + "|" + json.dumps({k: str(v) for k, v in subject.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _priority(s: Suggestion, totals: Totals, scope: int) -> float:
    affected = s.affected / scope if scope else 0.0
    savings = []
    if s.saving_usd and totals.cost_usd > 0:
        savings.append(s.saving_usd / totals.cost_usd)
    if s.saving_seconds and totals.root_seconds > 0:
        savings.append(s.saving_seconds / totals.root_seconds)
    if s.category == Category.RELIABILITY:  # failures matter even when cheap and fast
        share = max([affected, *savings])
    elif s.category == Category.DATA_QUALITY or not savings:
        share = affected
    else:  # cost, performance, workflow: what the fix saves
        share = max(savings)
    return round(100.0 * s.confidence * min(1.0, share), 3)


_CATEGORY_ORDER = {c: i for i, c in enumerate(Category)}


def rank(items: Iterable[tuple[Suggestion, int]], totals: Totals) -> tuple[Suggestion, ...]:
    """Set priorities and order: highest priority first, ties in a fixed order."""
    scored = [dataclasses.replace(s, priority=_priority(s, totals, scope)) for s, scope in items]
    return tuple(sorted(scored, key=lambda s: (-s.priority, _CATEGORY_ORDER[s.category],
                                               s.rule, s.fingerprint)))


def suggest(ds: Any, config: SuggestConfig | None = None,
            progress: Callable[[int, int, str], None] | None = None) -> SuggestionReport:
    """Run every rule over ``ds`` (an opened :class:`~otelytics.analysis.dataset.Dataset`).

    ``progress(i, n, name)`` is called before each rule and once with ``"done"`` at the end."""
    from otelytics.analysis import suggest_rules

    config = config or SuggestConfig()
    rules = suggest_rules.RULES
    if progress:
        progress(0, len(rules) + 1, "preparing")
    ctx = suggest_rules.Context(ds, config)
    items = []
    for i, rule in enumerate(rules, 1):
        if progress:
            progress(i, len(rules) + 1, rule.__name__.replace("_", " "))
        items += list(rule(ctx))
    if progress:
        progress(len(rules) + 1, len(rules) + 1, "done")
    filters = {k: v for k, v in dataclasses.asdict(ds.filters).items() if v}
    ranked = rank(items, ctx.totals)
    kept, omitted = _cap(ranked, config.max_per_rule)
    shown = {s.fingerprint for s in kept}
    return SuggestionReport(kept, ctx.totals, filters, omitted=omitted,
                            omitted_fingerprints=tuple(sorted(
                                s.fingerprint for s in ranked if s.fingerprint not in shown)))


def _cap(ranked: tuple[Suggestion, ...], limit: int) -> tuple[tuple[Suggestion, ...],
                                                               dict[str, int]]:
    """Keep the ``limit`` highest-priority findings of each rule; count the rest by rule."""
    seen: dict[str, int] = {}
    kept = []
    for s in ranked:
        seen[s.rule] = seen.get(s.rule, 0) + 1
        if seen[s.rule] <= limit:
            kept.append(s)
    return tuple(kept), {r: n - limit for r, n in sorted(seen.items()) if n > limit}


def load_report(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The findings of a previous run's JSON document (the omitted ones as bare
    ``{"fingerprint": ...}``); ValueError when it is not such a document."""
    if not isinstance(data, Mapping) or data.get("kind") != "otelytics.suggestions":
        raise ValueError("not an otelytics suggestions JSON document")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"unsupported suggestions schema_version {version!r}")
    items = data.get("suggestions")
    if not isinstance(items, list) or not all(
            isinstance(i, Mapping) and isinstance(i.get("fingerprint"), str) for i in items):
        raise ValueError("suggestions document without a list of fingerprinted suggestions")
    hidden = data.get("omitted_fingerprints") or []
    if not isinstance(hidden, list) or not all(isinstance(h, str) for h in hidden):
        raise ValueError("omitted_fingerprints must be a list of strings")
    return [dict(i) for i in items] + [{"fingerprint": h, "omitted": True} for h in hidden]


def with_lifecycle(report: SuggestionReport,
                   previous: Iterable[Mapping[str, Any]]) -> SuggestionReport:
    """Mark each suggestion ``new`` or ``still there`` and list the previous ones resolved.

    Findings left out by the per-rule cap count as present on both sides, so a cap never
    turns into a false "resolved" or "new"."""
    prev = {p["fingerprint"]: p for p in previous}
    current = {s.fingerprint for s in report.suggestions} | set(report.omitted_fingerprints)
    marked = tuple(dataclasses.replace(s, status="still there" if s.fingerprint in prev else "new")
                   for s in report.suggestions)
    resolved = tuple(Resolved(fp, str(p.get("rule", "")), str(p.get("title", "")))
                     for fp, p in sorted(prev.items())
                     if fp not in current and not p.get("omitted"))
    return dataclasses.replace(report, suggestions=marked, resolved=resolved, compared=True)
