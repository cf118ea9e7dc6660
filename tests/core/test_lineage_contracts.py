"""Every lineage/pattern table has a contract whose columns are exactly the table's columns."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tracelake.jobs.lake import catalog

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


@pytest.mark.parametrize(
    "spec",
    [
        catalog.SILVER_COMPONENT_USAGE,
        catalog.SILVER_COMPONENT_VERSION_STATS,
        catalog.SILVER_COMPONENTS,
        catalog.SILVER_COMPONENT_EVOLUTION,
        catalog.SILVER_RUN_ROLES,
        catalog.SILVER_PATTERNS,
        catalog.SILVER_RUN_PATTERNS,
    ],
    ids=lambda s: s.qualified_name,
)
def test_contract_matches_the_table(spec):
    contract = yaml.safe_load((CONTRACTS / f"{spec.tier}_{spec.name}.yaml").read_text())
    assert contract["table"] == spec.qualified_name
    assert list(contract["columns"]) == spec.schema.names
    assert contract["key"] == list(spec.key)
    for name, column in contract["columns"].items():
        assert column["nullable"] == spec.schema.field(name).nullable, name
