"""Prices of LLM calls: genai-prices as the one price table, user prices over it.

``price(provider, model, usage)`` returns a :class:`Price` (USD, where it came from, the price
data version) or ``None`` when nobody knows the model: the caller records such a call as
*unpriced*, never as $0. It never raises and is cheap enough for every call:

* the (provider, model) lookup in genai-prices is memoised, misses included;
* the five per-token rates (input, cache read, cache write, output, reasoning) of a model's
  price are read once from genai-prices itself, by pricing unit amounts through its own
  calculation, per prompt-size band for tiered prices (genai-prices' tiers are cliffs on the
  total input tokens), and checked against genai-prices on a mixed usage; each call is then a
  band lookup and five multiplications (~3 µs instead of ~60-110 µs). A price that fails the
  check goes through ``calc_price`` on every call, so the figure always equals genai-prices'
  own. Date-effective prices are resolved for the call's timestamp.

Token meaning is OpenTelemetry's (and genai-prices'): ``input_tokens`` includes cache-read
and cache-creation tokens, which are priced at their own rates and never twice;
``output_tokens`` includes ``reasoning_tokens``.

User prices (``set_prices`` or the ``OTELYTICS_PRICES_FILE`` variable) win over the table: a
JSON (or YAML) file or mapping of rates in USD per million tokens, or a function.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otelytics._settings import ConfigError

__all__ = ["PRICES_FILE_ENV", "Price", "PriceFunction", "Usage", "price", "provider_id",
           "set_prices", "tier_starts"]

_log = logging.getLogger("otelytics")

PRICES_FILE_ENV = "OTELYTICS_PRICES_FILE"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call, OTel GenAI meaning: ``input_tokens`` INCLUDES cache-read and
    cache-creation tokens; ``output_tokens`` includes reasoning tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Price:
    """The cost of one call in USD, with provenance."""

    usd: float
    source: str
    """``price_table`` (genai-prices) or ``user`` (set_prices / OTELYTICS_PRICES_FILE)."""
    version: str
    """Version of the price data: ``genai-prices <version>`` or the user prices' version."""


PriceFunction = Callable[[str, str, Usage, datetime], "float | Price | None"]
"""``fn(provider, model, usage, when)``: a price in USD (or a Price), or None to fall through."""

# OTel gen_ai.provider.name (and deprecated gen_ai.system values) -> genai-prices provider id
_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "azure": "azure",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
    "moonshot_ai": "moonshotai",
}


def provider_id(provider: str) -> str | None:
    """The genai-prices provider id for an OTel provider name, or None when it has none."""
    key = (provider or "").strip().lower()
    mapped = _PROVIDERS.get(key)
    if mapped is not None:
        return mapped
    table = _table()
    if table is not None and key in table.provider_ids:
        return key
    return None


def tier_starts(provider: str, model: str, *, when: datetime | None = None
                ) -> tuple[int, ...] | None:
    """Total-input-token thresholds where the table price of ``model`` jumps (genai-prices'
    tiers are cliffs); ``()`` for a flat price, None when the table does not know the model.
    Within one band a price is affine in the token counts, so analysis can price many calls
    from per-band token sums."""
    try:
        table = _table()
        pid = provider_id(provider) if provider else None
        found = None if table is None or (provider and pid is None) else table.lookup(pid, model)
        if found is None:
            return None
        mp = found[1].get_prices(when or datetime.now(UTC))
        return tuple(sorted({int(t.start) for v in vars(mp).values()
                             if isinstance(v, table._types.TieredPrices) for t in v.tiers}))
    except Exception:  # never raise: callers treat it as unknown
        return None


# --- the genai-prices table ------------------------------------------------------------------

_N = 1_000_000
_MISS = object()
_MAX_CACHE = 4096


class _Table:
    """genai-prices, with memoised model lookups and per-token rates of flat prices."""

    def __init__(self) -> None:
        import genai_prices
        from genai_prices import data_snapshot, types

        self._gp = genai_prices
        self._types = types
        self._snapshot_mod = data_snapshot
        snap = data_snapshot.get_snapshot()
        self.provider_ids = frozenset(p.id for p in snap.providers)
        self.version = f"genai-prices {genai_prices.__version__}"
        if snap.from_auto_update:
            self.version += f" (updated {snap.timestamp.isoformat(timespec='seconds')})"
        self._snapshot = snap
        self._models: dict[tuple[str, str], Any] = {}
        self._rates: dict[int, tuple[Any, tuple[float, ...] | None]] = {}
        self._lock = threading.Lock()

    def fresh(self) -> bool:
        return self._snapshot_mod.get_snapshot() is self._snapshot

    def lookup(self, pid: str | None, model: str) -> Any:
        key = (pid or "", model)
        found = self._models.get(key, _MISS)
        if found is _MISS:
            try:
                found = self._snapshot.find_provider_model(model, None, pid, None)
            except Exception:  # LookupError for unknown models and providers
                found = None
            with self._lock:
                if len(self._models) >= _MAX_CACHE:
                    self._models.clear()
                self._models[key] = found
        return found

    def _bands(self, model_price: Any, provider: Any, model: Any, when: datetime) -> Any:
        """Per-token rates of ``model_price`` for each prompt-size band, or None.

        genai-prices' tiers are cliffs on the total input tokens (crossing a tier start
        reprices every token), so within one band the price is linear in the token counts.
        Returns ``(starts, [rates per band])`` where rates are (input, cache read, cache
        write, output, reasoning) USD per token, or None when a check against genai-prices
        on a mixed usage disagrees (then every call goes through ``calc_price``)."""
        cached = self._rates.get(id(model_price))
        if cached is not None and cached[0] is model_price:
            return cached[1]
        starts = sorted({t.start for v in vars(model_price).values()
                         if isinstance(v, self._types.TieredPrices) for t in v.tiers})

        def cost(**kw: int) -> float:
            return float(model.calc_price(self._gp.Usage(**kw), provider,
                                          genai_request_timestamp=when).total_price)

        bands: Any
        try:
            table = []
            for b in range(len(starts) + 1):
                t = starts[b - 1] + 1 if b else (starts[0] if starts else _N)
                base = cost(input_tokens=t) if t else 0.0
                rates = ((base / t if t else 0.0),
                         (cost(input_tokens=t, cache_read_tokens=t) / t if t else 0.0),
                         (cost(input_tokens=t, cache_write_tokens=t) / t if t else 0.0),
                         (cost(input_tokens=t, output_tokens=_N) - base) / _N,
                         (cost(input_tokens=t, output_tokens=_N, output_reasoning_tokens=_N)
                          - base) / _N)
                cr, cw = t // 3, t // 5
                mixed = _rate_cost(rates, t, 567, cr, cw, 67)
                full = cost(input_tokens=t, cache_read_tokens=cr, cache_write_tokens=cw,
                            output_tokens=567, output_reasoning_tokens=67)
                if not math.isclose(mixed, full, rel_tol=1e-9, abs_tol=1e-15):
                    raise ValueError("not linear")
                table.append(rates)
            bands = (tuple(starts), tuple(table))
        except Exception:
            bands = None
        with self._lock:
            if len(self._rates) >= _MAX_CACHE:
                self._rates.clear()
            self._rates[id(model_price)] = (model_price, bands)
        return bands

    def cost(self, pid: str | None, model: str, usage: Usage, when: datetime,
             batch: bool = False) -> float | None:
        found = self.lookup(pid, model)
        if found is None:
            return None
        provider, info = found
        inp, out, cr, cw, rs = _clamped(usage)
        bands = None
        if not batch:  # batch prices (a price context) always go through calc_price
            bands = self._bands(info.get_prices(when), provider, info, when)
        if bands is not None:
            starts, table = bands
            rates = table[bisect_left(starts, inp)] if starts else table[0]
            return _rate_cost(rates, inp, out, cr, cw, rs)
        kw = {"input_tokens": inp, "output_tokens": out}
        if cr:
            kw["cache_read_tokens"] = cr
        if cw:
            kw["cache_write_tokens"] = cw
        if rs:
            kw["output_reasoning_tokens"] = rs
        extra = {"price_context": {"processing": "batch"}} if batch else {}
        calc = info.calc_price(self._gp.Usage(**kw), provider, genai_request_timestamp=when,
                               **extra)  # an old genai-prices without price_context: raises
        return float(calc.total_price)


def _clamped(u: Usage) -> tuple[int, int, int, int, int]:
    cr = max(0, int(u.cache_read_tokens or 0))
    cw = max(0, int(u.cache_creation_tokens or 0))
    inp = max(int(u.input_tokens or 0), cr + cw)  # cache is part of input, never more
    rs = max(0, int(u.reasoning_tokens or 0))
    out = max(int(u.output_tokens or 0), rs)
    return inp, out, cr, cw, rs


def _rate_cost(r: tuple[float, ...], inp: int, out: int, cr: int, cw: int, rs: int) -> float:
    return (r[0] * (inp - cr - cw) + r[1] * cr + r[2] * cw
            + r[3] * (out - rs) + r[4] * rs)


_table_obj: _Table | None = None
_table_failed = False
_table_lock = threading.Lock()


def _table() -> _Table | None:
    global _table_obj, _table_failed
    t = _table_obj
    if t is not None and t.fresh():
        return t
    if _table_failed:
        return None
    with _table_lock:
        if _table_obj is None or not _table_obj.fresh():
            try:
                _table_obj = _Table()
            except Exception as exc:  # genai-prices missing or broken: everything unpriced
                _table_failed = True
                _log.warning("otelytics: price table unavailable (%s); LLM calls are "
                             "recorded as unpriced. Install otelytics[llm].", exc)
                return None
        return _table_obj


# --- user prices -----------------------------------------------------------------------------

_RATE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok",
              "reasoning_mtok")


@dataclass(frozen=True, slots=True)
class _UserPrices:
    version: str
    exact: Mapping[str, tuple[float, ...]]
    prefixes: tuple[tuple[str, tuple[float, ...]], ...]
    fn: PriceFunction | None = None

    def rates(self, provider: str, model: str) -> tuple[float, ...] | None:
        m = model.lower()
        for key in (f"{provider.lower()}/{m}", m):
            hit = self.exact.get(key)
            if hit is not None:
                return hit
        for prefix, rates in self.prefixes:
            if f"{provider.lower()}/{m}".startswith(prefix) or m.startswith(prefix):
                return rates
        return None


_user: _UserPrices | None = None
_env_loaded = False


def _parse_rates(name: str, spec: Any, where: str) -> tuple[float, ...]:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: price of {name!r} must be a mapping of "
                          f"{', '.join(_RATE_KEYS)} (USD per million tokens)")
    unknown = set(spec) - set(_RATE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: price of {name!r} has unknown key(s) "
                          f"{', '.join(sorted(map(str, unknown)))}; known: {', '.join(_RATE_KEYS)}")
    vals: dict[str, float] = {}
    for key in _RATE_KEYS:
        if key not in spec:
            continue
        v = spec[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0:
            raise ConfigError(f"{where}: {name}.{key} must be a non-negative number, not {v!r}")
        vals[key] = float(v)
    if "input_mtok" not in vals and "output_mtok" not in vals:
        raise ConfigError(f"{where}: price of {name!r} needs input_mtok and/or output_mtok")
    inp = vals.get("input_mtok", 0.0)
    out = vals.get("output_mtok", 0.0)
    # unlisted cache/reasoning rates fall back to the plain input/output rate
    return (inp / _N, vals.get("cache_read_mtok", inp) / _N,
            vals.get("cache_write_mtok", inp) / _N, out / _N,
            vals.get("reasoning_mtok", out) / _N)


def _parse_mapping(data: Any, where: str, default_version: str) -> _UserPrices:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'models', got {type(data).__name__}")
    models = data.get("models", None)
    if models is None:
        models = {k: v for k, v in data.items() if k != "version"}
    if not isinstance(models, Mapping) or not models:
        raise ConfigError(f"{where}: 'models' must be a non-empty mapping of model -> rates")
    exact: dict[str, tuple[float, ...]] = {}
    prefixes: list[tuple[str, tuple[float, ...]]] = []
    for name, spec in models.items():
        if not isinstance(name, str) or not name.strip() or name.strip() == "*":
            raise ConfigError(f"{where}: bad model name {name!r}")
        rates = _parse_rates(name, spec, where)
        key = name.strip().lower()
        if key.endswith("*"):
            prefixes.append((key[:-1], rates))
        else:
            exact[key] = rates
    prefixes.sort(key=lambda p: -len(p[0]))  # the most specific prefix wins
    version = data.get("version", default_version)
    return _UserPrices(f"user {version}", exact, tuple(prefixes))


def _load_file(path: str | os.PathLike[str]) -> _UserPrices:
    p = Path(path)
    where = f"prices file {str(p)!r}"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ImportError:
        raise ConfigError(f"{where}: YAML needs PyYAML; use JSON instead") from None
    except Exception as exc:
        raise ConfigError(f"{where}: not valid {p.suffix.lstrip('.') or 'JSON'} ({exc})") \
            from None
    return _parse_mapping(data, where, p.name)


def set_prices(prices: str | os.PathLike[str] | Mapping[str, Any] | PriceFunction | None
               ) -> None:
    """Add or override prices; they win over genai-prices. ``None`` removes them.

    ``prices`` is a JSON/YAML file path or a mapping::

        {"version": "2026-11", "models": {
            "openai/ft:gpt-4o-mini:acme": {"input_mtok": 0.3, "output_mtok": 1.2,
                                            "cache_read_mtok": 0.15},
            "my-llama-*": {"input_mtok": 0.05, "output_mtok": 0.1}}}

    Rates are USD per million tokens (``input_mtok``, ``output_mtok``, ``cache_read_mtok``,
    ``cache_write_mtok``, ``reasoning_mtok``; unlisted cache/reasoning rates fall back to the
    input/output rate). Keys are ``provider/model`` or ``model`` (any provider); a trailing
    ``*`` matches a prefix. Or a function ``fn(provider, model, usage, when)`` returning USD
    (or a :class:`Price`), or None to fall through to the table.

    Raises :class:`~otelytics._settings.ConfigError` naming the problem for a bad file or
    mapping, here and now, never later at call time.
    """
    global _user, _env_loaded
    _env_loaded = True  # an explicit choice beats the environment variable
    if prices is None:
        _user = None
    elif callable(prices) and not isinstance(prices, Mapping):
        version = getattr(prices, "__name__", type(prices).__name__)
        _user = _UserPrices(f"user {version}", {}, (), prices)
    elif isinstance(prices, Mapping):
        _user = _parse_mapping(prices, "prices mapping", "mapping")
    elif isinstance(prices, (str, os.PathLike)):
        _user = _load_file(prices)
    else:
        raise ConfigError(f"set_prices() takes a file path, a mapping or a function, "
                          f"not {type(prices).__name__}")


def _user_prices() -> _UserPrices | None:
    global _user, _env_loaded
    if not _env_loaded:
        _env_loaded = True
        path = os.environ.get(PRICES_FILE_ENV, "").strip()
        if path:
            try:
                _user = _load_file(path)
            except ConfigError as exc:  # never hurt the host app: report once, go on
                _log.warning("otelytics: ignoring %s: %s", PRICES_FILE_ENV, exc)
    return _user


def _user_price(user: _UserPrices, provider: str, model: str, usage: Usage,
                when: datetime) -> Price | None:
    if user.fn is not None:
        try:
            got = user.fn(provider, model, usage, when)
        except Exception as exc:
            _log.debug("otelytics: price function failed for %s/%s: %r", provider, model, exc)
            return None
        if isinstance(got, Price):
            return got
        if isinstance(got, (int, float)) and not isinstance(got, bool) and math.isfinite(got) \
                and got >= 0:
            return Price(float(got), "user", user.version)
        return None
    rates = user.rates(provider, model)
    if rates is None:
        return None
    return Price(_rate_cost(rates, *_clamped(usage)), "user", user.version)


# --- the entry point -------------------------------------------------------------------------

def price(provider: str, model: str, usage: Usage, *, when: datetime | None = None,
          batch: bool = False) -> Price | None:
    """The price of one call, or None when the model is unknown (unpriced). Never raises.

    ``batch``: the price of the same call through the provider's batch API (genai-prices'
    ``processing: batch`` context; the standard price where the model has none). None when
    user prices cover the model (their batch terms are unknown) or genai-prices is too old.
    """
    try:
        if not model:
            return None
        user = _user_prices()
        if user is not None:
            got = _user_price(user, provider or "", model, usage, when or datetime.now(UTC))
            if got is not None:
                return None if batch else got
        table = _table()
        if table is None:
            return None
        pid = provider_id(provider) if provider else None
        if provider and pid is None:
            return None  # a provider genai-prices does not know: do not guess another's price
        if when is None:
            when = datetime.now(UTC)
        elif when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        usd = table.cost(pid, model, usage, when, batch)
        return None if usd is None else Price(usd, "price_table", table.version)
    except Exception as exc:  # never raise into instrumentation
        _log.debug("otelytics: pricing %s/%s failed: %r", provider, model, exc)
        return None
