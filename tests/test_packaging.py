"""Every Python package folder is listed in pyproject.toml, so a wheel carries all of it.

Editable installs find unlisted subpackages anyway, so without this check a missing entry
would only show up for users installing the wheel.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    found = set()
    for pkg, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("*.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(base)
            name = ".".join([pkg, *rel.parts])
            if any(name.startswith(p + ".") or name == p for p in mapping if p != pkg
                   and len(p) > len(pkg)):
                continue  # belongs to a more specific mapping
            found.add(name)
    for folder in (ROOT / "semconv" / "model",):
        found.add("otelytics.semconv." + folder.name)
    assert found <= listed, f"not in [tool.setuptools] packages: {sorted(found - listed)}"
