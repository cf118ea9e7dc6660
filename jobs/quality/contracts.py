"""Loading a table's data contract (contracts/<tier>_<name>.yaml), the suites' one source."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

import yaml

from ..errors import ConfigError
from ..lake.catalog import TableSpec


def contract_text(spec: TableSpec) -> str:
    path = resources.files("tracelake.contracts") / f"{spec.tier}_{spec.name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{spec.qualified_name} has no contract ({spec.tier}_{spec.name}.yaml in contracts/); "
            "write one before gating the table"
        )
    return path.read_text()


def load_contract(spec: TableSpec) -> dict[str, Any]:
    contract = yaml.safe_load(contract_text(spec))
    if not isinstance(contract, dict) or contract.get("table") != spec.qualified_name:
        raise ConfigError(f"the contract of {spec.qualified_name} does not name that table")
    return contract


def contract_hash(contract: dict[str, Any]) -> str:
    """Short hash of the contract's content: a suite's name changes when its contract does."""
    text = json.dumps(contract, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def json_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in schemas/ (a contract's `json_schema`)."""
    path = resources.files("tracelake.schemas") / name
    if not path.is_file():
        raise ConfigError(f"contract names JSON schema {name!r}, which is not in schemas/")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
