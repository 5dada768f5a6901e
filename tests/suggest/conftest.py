"""Helpers for the suggestion and check tests: write rows, open them, run the rules.

Expected figures in the tests are computed from the rows themselves (and genai-prices,
Wilson's formula, numpy percentiles), never by calling the code under test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from otelytics.analysis.dataset import Filters, Window, open_dataset
from otelytics.analysis.suggestions import SuggestConfig, Suggestion, SuggestionReport, suggest
from tests.builders import BASE_TIME, write_spans

_dirs = itertools.count()


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., SuggestionReport]:
    """``run(rows, **config)``: write the rows to a fresh dataset and return the report."""
    def _run(rows: list[dict[str, Any]], window: Window | None = None,
             filters: Filters | None = None, **config: Any) -> SuggestionReport:
        root = tmp_path / f"ds{next(_dirs)}"
        write_spans(root, rows)
        with open_dataset(root, window=window, filters=filters) as ds:
            return suggest(ds, SuggestConfig(**config))
    return _run


def only(report: SuggestionReport, rule: str) -> list[Suggestion]:
    """The suggestions of one rule."""
    return [s for s in report.suggestions if s.rule == rule]


def usd(model: str, tin: int, tout: int, tcr: int = 0, tcw: int = 0,
        provider: str | None = "openai") -> float:
    """Independent price of one call with genai-prices."""
    r = calc_price(Usage(input_tokens=tin, output_tokens=tout, cache_read_tokens=tcr or None,
                         cache_write_tokens=tcw or None), model, provider_id=provider)
    return float(r.total_price)


def at(seconds: float) -> dt.datetime:
    """BASE_TIME plus ``seconds`` (far from the builders' own automatic start times)."""
    return BASE_TIME + dt.timedelta(hours=5, seconds=seconds)
