"""docs/schema.md is generated from exporter/schema.py and must be current."""

from __future__ import annotations

from otelytics.exporter import _docgen
from otelytics.exporter.schema import PROMOTED_SPAN_ATTRIBUTES, SCHEMAS
from tests.conftest import ROOT


def test_schema_doc_is_current():
    assert (ROOT / "docs/schema.md").read_text(encoding="utf-8") == _docgen.render(), (
        "docs/schema.md is stale: run python -m otelytics.exporter._docgen docs/schema.md")


def test_schema_doc_names_every_column_and_promoted_attribute():
    text = _docgen.render()
    for schema in SCHEMAS.values():
        for field in schema:
            assert f"| `{field.name}` |" in text
    for p in PROMOTED_SPAN_ATTRIBUTES:
        assert f"| `{p.attribute}` | `{p.column}` |" in text


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "schema.md"
    stale.write_text("old", encoding="utf-8")
    assert _docgen.main(["--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().out
    _docgen.main([str(stale)])
    assert _docgen.main(["--check", str(stale)]) == 0
