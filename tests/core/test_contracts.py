"""Every catalog table has its contract, and each contract agrees with the table's schema
(the catalog, built from schemas/, is the source of truth for shapes)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from tracelake.jobs import landing  # noqa: F401  (every module that registers tables)
from tracelake.jobs.lake import catalog

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"

TYPES = {
    "string": pa.types.is_string,
    "int": pa.types.is_int32,
    "long": pa.types.is_int64,
    "double": pa.types.is_float64,
    "boolean": pa.types.is_boolean,
    "date": pa.types.is_date32,
    "timestamp": pa.types.is_timestamp,
    "list<string>": lambda t: pa.types.is_list(t) and pa.types.is_string(t.value_type),
    "list<long>": lambda t: pa.types.is_list(t) and pa.types.is_int64(t.value_type),
    "list<struct>": lambda t: pa.types.is_list(t) and pa.types.is_struct(t.value_type),
    "map<string,string>": lambda t: (
        pa.types.is_map(t) and pa.types.is_string(t.key_type) and pa.types.is_string(t.item_type)
    ),
}


def _contract(spec: catalog.TableSpec) -> dict:
    path = CONTRACTS / f"{spec.tier}_{spec.name}.yaml"
    assert path.exists(), f"{spec.qualified_name} has no contract ({path.name})"
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("spec", catalog.all_tables(), ids=lambda s: s.qualified_name)
def test_the_contract_matches_the_catalog(spec):
    contract = _contract(spec)
    assert contract["table"] == spec.qualified_name
    assert tuple(contract["key"]) == spec.key
    assert tuple(contract.get("partition_by", ())) == spec.partition_by
    assert bool(contract.get("append_only", False)) == spec.append_only
    for name, rule in contract["columns"].items():
        assert name in spec.schema.names, f"{spec.qualified_name}: no column {name}"
        field = spec.schema.field(name)
        assert TYPES[rule["type"]](field.type), f"{spec.qualified_name}.{name}: {field.type}"
        # A contract may be stricter than the schema (a constraint), never looser.
        if rule.get("nullable") is True:
            assert field.nullable, f"{spec.qualified_name}.{name} can never be null"
        if "item_fields" in rule:
            assert rule["item_fields"] == [f.name for f in field.type.value_type]


def test_every_contract_belongs_to_a_catalog_table():
    tables = {s.qualified_name for s in catalog.all_tables()}
    for path in CONTRACTS.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())["table"] in tables, path.name
