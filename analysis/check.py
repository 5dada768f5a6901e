"""Budgets and alert rules for CI and cron: ``otelytics check`` exits 1 when one is breached.

A rule is a metric (``cost``, ``tokens``, ``error_rate``, ``p95``), optionally restricted to one
operation (span name), with either an absolute limit (``--max-cost 5``, ``--max-p95 fit=1.5s``)
or a largest allowed increase over a baseline period (``--max-increase cost=20%``). Volumes
(cost, tokens) are compared *per day* against a baseline, since the two periods rarely have the
same length; rates and percentiles are compared as they are. Rules also come from a TOML or
YAML file with the same keys as the flags (``docs/suggestions.md``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "METRICS",
    "CheckResult",
    "CheckRule",
    "load_rules_file",
    "measure",
    "parse_increase",
    "parse_limit",
    "run_checks",
]

METRICS = ("cost", "tokens", "error_rate", "p95")
_UNITS = {"cost": "USD", "tokens": "tokens", "error_rate": "", "p95": "s"}
_VOLUME = {"cost", "tokens"}


@dataclass(frozen=True, slots=True)
class CheckRule:
    """``metric`` (of ``operation``, or of everything) must stay at or under ``limit``; when
    ``relative``, ``limit`` is the largest allowed fractional increase over the baseline."""

    metric: str
    limit: float
    operation: str | None = None
    relative: bool = False

    @property
    def label(self) -> str:
        return self.metric + (f"[{self.operation}]" if self.operation else "")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one rule: the figure, the limit and whether it was breached."""

    rule: CheckRule
    value: float | None
    baseline: float | None
    breached: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.rule.metric, "operation": self.rule.operation,
                "relative": self.rule.relative, "limit": self.rule.limit, "value": self.value,
                "baseline": self.baseline, "breached": self.breached, "message": self.message}


_NUM = r"(\d+(?:\.\d*)?|\.\d+)"


def _number(metric: str, text: str) -> float:
    t = str(text).strip().lower().replace("_", "").replace(",", "")
    if metric == "cost":
        m = re.fullmatch(r"\$?" + _NUM + r"(?:usd)?", t)
        if m:
            return float(m.group(1))
    elif metric == "tokens":
        m = re.fullmatch(_NUM + r"([km]?)", t)
        if m:
            return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2)]
    elif metric == "error_rate":
        m = re.fullmatch(_NUM + r"(%?)", t)
        if m:
            v = float(m.group(1)) / (100 if m.group(2) else 1)
            if v <= 1:
                return v
    elif metric == "p95":
        m = re.fullmatch(_NUM + r"(ms|s|m)?", t)
        if m:
            return float(m.group(1)) * {"ms": 1e-3, "s": 1, "m": 60, None: 1}[m.group(2)]
    examples = {"cost": "5 or $5", "tokens": "200000 or 200k", "error_rate": "0.02 or 2%",
                "p95": "1.5s or 1500ms"}
    raise ValueError(f"invalid {metric} limit {text!r}; e.g. {examples[metric]}")


def parse_limit(metric: str, text: str) -> CheckRule:
    """``5``, ``fit=1.5s``: an absolute limit, optionally for one operation."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    op, sep, value = str(text).rpartition("=")
    if sep and not op:
        raise ValueError(f"invalid {metric} limit {text!r}: empty operation before '='")
    return CheckRule(metric, _number(metric, value), op or None)


def parse_increase(text: str) -> CheckRule:
    """``cost=20%``, ``p95:fit=10%``, ``tokens=0.2``: a largest increase over the baseline."""
    key, sep, value = str(text).partition("=")
    metric, _, op = key.strip().partition(":")
    if not sep or metric not in METRICS:
        raise ValueError(f"invalid increase {text!r}; use METRIC[:OPERATION]=PCT with METRIC "
                         f"one of {', '.join(METRICS)}, e.g. cost=20%")
    m = re.fullmatch(_NUM + r"(%?)", value.strip())
    if not m:
        raise ValueError(f"invalid increase {value!r} in {text!r}; e.g. 20%")
    return CheckRule(metric, float(m.group(1)) / (100 if m.group(2) else 1), op or None,
                     relative=True)


def measure(ds: Any, metric: str, operation: str | None = None) -> float | None:
    """The figure of ``metric`` over the dataset's window and filters (None: no data)."""
    where, params = ("name = ?", [operation]) if operation else ("TRUE", [])
    exprs = {
        # no LLM call: $0; LLM calls but none priced: unknown (None), never a silent $0
        "cost": "CASE WHEN count(cost_usd) = 0 AND count(*) FILTER (WHERE "
                "gen_ai_request_model IS NOT NULL OR gen_ai_provider_name IS NOT NULL) > 0 "
                "THEN NULL ELSE coalesce(sum(cost_usd), 0) END",
        "tokens": "coalesce(sum(coalesce(gen_ai_input_tokens, 0) "
                  "+ coalesce(gen_ai_output_tokens, 0)), 0)",
        "error_rate": "CASE WHEN count(*) = 0 THEN NULL ELSE "
                      "count(*) FILTER (WHERE status_code = 'ERROR') / count(*) END",
        "p95": "quantile_cont(duration_us / 1e6, 0.95)",
    }
    row = ds.con.execute(f"SELECT {exprs[metric]}, count(*) FROM spans WHERE {where}",
                         params or None).fetchall()[0]
    if row[1] == 0 and metric in ("error_rate", "p95"):
        return None
    return None if row[0] is None else float(row[0])


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if metric == "cost":
        return f"{v:,.4f} USD"
    if metric == "tokens":
        return f"{v:,.0f} tokens"
    if metric == "error_rate":
        return f"{v:.2%}"
    return f"{v:.3f} s"


def _days(window: Any, now: dt.datetime) -> float:
    end = window.end or now
    return max((end - window.start).total_seconds(), 1.0) / 86400.0


def run_checks(ds: Any, rules: list[CheckRule], baseline: Any = None,
               now: dt.datetime | None = None) -> list[CheckResult]:
    """Evaluate ``rules`` on ``ds``; relative rules also on ``baseline`` (a Dataset)."""
    now = now or dt.datetime.now(dt.UTC)
    _check_operations(ds, rules)
    results = []
    for rule in rules:
        value = measure(ds, rule.metric, rule.operation)
        if value is None:  # a budget that cannot be measured must not pass silently
            raise ValueError(f"{rule.label}: no data to measure in this window"
                             + (" (LLM calls without a recorded cost)"
                                if rule.metric == "cost" else ""))
        if not rule.relative:
            breached = value > rule.limit
            op = ">" if breached else "<="
            results.append(CheckResult(
                rule, value, None, breached,
                f"{'FAIL' if breached else 'ok  '}  {rule.label} {_fmt(rule.metric, value)} "
                f"{op} max {_fmt(rule.metric, rule.limit)}"))
            continue
        if baseline is None:
            raise ValueError(f"{rule.label}: an increase limit needs a baseline period "
                             "(--baseline-since or --baseline-from/--baseline-to)")
        base = measure(baseline, rule.metric, rule.operation)
        unit = _UNITS[rule.metric]
        if rule.metric in _VOLUME:
            value = None if value is None else value / _days(ds.window, now)
            base = None if base is None else base / _days(baseline.window, now)
            unit += "/day"
        if base is None or base == 0 or value is None:
            results.append(CheckResult(rule, value, base, False,
                                       f"no baseline  {rule.label}: the baseline period has "
                                       "no data to compare with"))
            continue
        change = value / base - 1
        breached = change > rule.limit
        results.append(CheckResult(
            rule, value, base, breached,
            f"{'FAIL' if breached else 'ok  '}  {rule.label} {change:+.1%} vs baseline "
            f"({_num(base)} -> {_num(value)} {unit}".rstrip() + f") "
            f"{'>' if breached else '<='} max +{rule.limit:.0%}"))
    return results


def _check_operations(ds: Any, rules: list[CheckRule]) -> None:
    """A rule naming an operation without spans is a typo until shown otherwise: a CI budget
    must never be disabled silently. ValueError naming the closest known operations."""
    wanted = {r.operation for r in rules if r.operation}
    if not wanted:
        return
    rows = ds.con.execute("SELECT DISTINCT name FROM spans WHERE name IS NOT NULL").fetchall()
    known = sorted(r[0] for r in rows)
    for op in sorted(wanted):
        if op not in known:
            close = difflib.get_close_matches(op, known, n=5, cutoff=0.0)
            raise ValueError(f"no spans for operation {op!r} in this window; known operations: "
                             + (", ".join(close) or "none"))


def _num(v: float) -> str:
    return f"{v:,.6g}"


_FILE_KEYS = {"since", "from", "to", "baseline_since", "baseline_from", "baseline_to",
              "max_cost", "max_error_rate", "max_p95", "max_tokens", "max_increase",
              "service", "operation", "model", "provider", "workflow", "session", "user",
              "where"}


def load_rules_file(path: str | Path) -> tuple[dict[str, Any], list[CheckRule]]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) rules file: returns the settings
    (window, baseline, filters) and the rules. ValueError with the reason when invalid."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read rules file {p}: {exc.strerror}") from None
    if p.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError("YAML rules files need PyYAML: pip install pyyaml") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"invalid YAML in {p}: {str(exc).splitlines()[0]}") from None
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"invalid TOML in {p}: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"rules file {p} must hold a table of settings")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) in {p}: {', '.join(unknown)}")
    rules: list[CheckRule] = []
    for key, metric in (("max_cost", "cost"), ("max_error_rate", "error_rate"),
                        ("max_p95", "p95"), ("max_tokens", "tokens")):
        for text in _entries(data.get(key)):
            rules.append(parse_limit(metric, text))
    rules += [parse_increase(t) for t in _entries(data.get("max_increase"))]
    settings = {k: v for k, v in data.items() if not k.startswith("max_")}
    return settings, rules


def _entries(value: Any) -> list[str]:
    """A scalar, a list of ``op=value`` strings, or a table ``{op: value}`` -> strings."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]
