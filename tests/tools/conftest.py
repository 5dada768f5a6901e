"""Fixtures of the dataset-tools tests; helpers live in ``_data``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty dataset root folder."""
    d = tmp_path / "data"
    d.mkdir()
    return d
