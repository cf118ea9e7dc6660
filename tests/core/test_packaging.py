"""The wheel must contain every package: pyproject lists them by hand (mapped directories)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPED = {
    "schemas": "tracelake.schemas",
    "contracts": "tracelake.contracts",
    "jobs": "tracelake.jobs",
    "trainer": "tracelake.trainer",
}


def test_every_python_package_directory_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = set()
    for directory, package in MAPPED.items():
        for init in (ROOT / directory).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / directory)
            found.add(".".join([package, *relative.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "pyproject lists packages that do not exist"
