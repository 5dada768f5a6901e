"""The YAML registry, the Python constants and docs/semconv.md must agree."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest

from otelytics.semconv import _docgen, attributes, metrics

ROOT = Path(__file__).resolve().parents[1]


def _yaml_attributes() -> dict[str, dict]:
    out = {}
    for _, g in _docgen.load_groups():
        for a in g.get("attributes", []):
            if "id" in a:
                assert a["id"] not in out, f"{a['id']} defined twice"
                out[a["id"]] = a
    return out


def _yaml_metrics() -> dict[str, dict]:
    return {g["metric_name"]: g for _, g in _docgen.load_groups() if g["type"] == "metric"}


def _constant_name(attr_id: str) -> str:
    return attr_id.upper().replace(".", "_")


def _python_attribute_constants() -> dict[str, str]:
    return {
        k: v for k, v in vars(attributes).items()
        if k.isupper() and isinstance(v, str)
    }


def test_every_yaml_attribute_has_a_constant_of_the_same_value():
    consts = _python_attribute_constants()
    for attr_id, spec in _yaml_attributes().items():
        # a name whose default constant would collide says its own (annotations.otelytics)
        name = ((spec.get("annotations") or {}).get("otelytics") or {}).get("constant") \
            or _constant_name(attr_id)
        assert consts.get(name) == attr_id, f"missing or wrong constant {name} for {attr_id}"


def test_every_attribute_constant_is_in_the_yaml():
    yaml_ids = set(_yaml_attributes())
    for name, value in _python_attribute_constants().items():
        assert value in yaml_ids, f"{name}={value!r} is not in the semconv YAML"


def test_enum_members_agree():
    yaml_attrs = _yaml_attributes()
    enums = {
        k: v for k, v in vars(attributes).items()
        if isinstance(v, type) and issubclass(v, Enum) and v is not Enum
    }
    seen = set()
    for attr_id, a in yaml_attrs.items():
        if not isinstance(a["type"], dict):
            continue
        cls_name = "".join(p.capitalize() for p in attr_id.replace("_", ".").split(".")) + "Values"
        assert cls_name in enums, f"no enum class {cls_name} for {attr_id}"
        assert {m["value"] for m in a["type"]["members"]} == {m.value for m in enums[cls_name]}
        seen.add(cls_name)
    assert seen == set(enums), f"enum classes without a YAML attribute: {set(enums) - seen}"


def test_metric_refs_point_at_defined_attributes():
    yaml_attrs = _yaml_attributes()
    for m in _yaml_metrics().values():
        for ref in m.get("attributes", []):
            assert ref["ref"] in yaml_attrs, f"{m['metric_name']} refers to unknown {ref['ref']}"


def test_metrics_agree_both_ways_with_units_instruments_and_buckets():
    yaml_metrics = _yaml_metrics()
    specs = {s.name: s for s in metrics.ALL_METRICS}
    assert set(specs) == set(yaml_metrics)
    for name, spec in specs.items():
        y = yaml_metrics[name]
        assert spec.instrument == y["instrument"], name
        assert spec.unit == y["unit"], name
        assert spec.brief == " ".join(y["brief"].split()), name
        buckets = ((y.get("annotations") or {}).get("otelytics") or {}).get("bucket_boundaries")
        assert (list(spec.bucket_boundaries) if spec.bucket_boundaries else None) == buckets, name
        if spec.instrument == "histogram":
            assert spec.bucket_boundaries, f"histogram {name} needs bucket boundaries"
            assert list(spec.bucket_boundaries) == sorted(spec.bucket_boundaries)


def test_every_definition_has_stability_brief_and_examples():
    for attr_id, a in _yaml_attributes().items():
        assert a.get("stability") in {"development", "stable"}, attr_id
        assert a.get("brief"), attr_id
        assert a.get("examples"), attr_id


@pytest.mark.parametrize("doc", ["docs/semconv.md"])
def test_generated_doc_is_current(doc):
    assert (ROOT / doc).read_text(encoding="utf-8") == _docgen.render(), (
        f"{doc} is stale: run python -m otelytics.semconv._docgen {doc}"
    )
