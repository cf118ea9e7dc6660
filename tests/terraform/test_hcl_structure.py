"""The Terraform tree is well formed: it parses, every variable is declared, typed and described,
module calls pass exactly the inputs their modules declare, and the docs name real outputs."""

from __future__ import annotations

import re

import hcl2
import pytest
from terraform.tfconfig import (
    ENVIRONMENTS,
    MODULES,
    TERRAFORM,
    Module,
    all_modules,
    load_module,
    module_dirs,
    references,
    tf_files,
)

MODULE_IDS = [m.name for m in all_modules()]


def test_every_tf_file_parses():
    files = tf_files()
    assert len(files) >= 30, "the modules and environments are missing"
    for path in files:
        with path.open() as handle:
            assert isinstance(hcl2.load(handle), dict), path


def test_modules_and_environments_exist():
    names = {p.name for p in module_dirs()}
    assert {"storage", "network", "iam", "spark", "airflow", "training"} <= names
    assert {p.name for p in ENVIRONMENTS.iterdir() if p.is_dir()} >= {"dev", "prod"}
    for path in module_dirs():
        for required in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (path / required).is_file(), f"{path.name}/{required} is missing"


@pytest.mark.parametrize("module", all_modules(), ids=MODULE_IDS)
def test_variables_are_typed_and_described(module: Module):
    for name, body in module.variables.items():
        assert "type" in body, f"{module.name}: variable {name} has no type"
        assert body.get("description"), f"{module.name}: variable {name} has no description"
        for validation in body.get("validation", []):
            assert validation.get("error_message"), (
                f"{module.name}: {name} validation lacks a message"
            )


@pytest.mark.parametrize("module", all_modules(), ids=MODULE_IDS)
def test_references_are_declared(module: Module):
    assert references(module, "var") <= set(module.variables), module.name
    assert references(module, "local") <= set(module.locals), module.name
    assert references(module, "module") <= set(module.modules), module.name
    unused = set(module.variables) - references(module, "var")
    assert not unused, f"{module.name}: variables declared but never used: {sorted(unused)}"


@pytest.mark.parametrize("module", all_modules(), ids=MODULE_IDS)
def test_module_calls_match_module_variables(module: Module):
    meta = {"source", "version", "providers", "depends_on", "count", "for_each"}
    for call, body in module.modules.items():
        target = load_module((module.path / body["source"]).resolve())
        given = set(body) - meta
        declared = set(target.variables)
        required = {n for n, v in target.variables.items() if "default" not in v}
        assert given <= declared, (
            f"{module.name}: module {call} gets unknown inputs {given - declared}"
        )
        assert required <= given, f"{module.name}: module {call} misses inputs {required - given}"


@pytest.mark.parametrize("module", all_modules(), ids=MODULE_IDS)
def test_module_outputs_used_by_callers_exist(module: Module):
    for call, body in module.modules.items():
        target = load_module((module.path / body["source"]).resolve())
        used = set(re.findall(rf"\bmodule\.{call}\.([A-Za-z_][A-Za-z0-9_]*)", module.text))
        assert used <= set(target.outputs), (
            f"{module.name}: module.{call} has no outputs {used - set(target.outputs)}"
        )


def test_outputs_named_in_docs_exist():
    """Every `output_name` a README or docs page names as an output of a module exists."""
    docs = [*TERRAFORM.rglob("README.md"), *(TERRAFORM.parent / "docs").glob("*.md")]
    outputs = {name for m in all_modules() for name in m.outputs}
    named: set[str] = set()
    for doc in docs:
        for match in re.finditer(r"output `([a-z_]+)`|`([a-z_]+)` output", doc.read_text()):
            named.add(match.group(1) or match.group(2))
    assert named, "the docs should name the outputs people use"
    assert named <= outputs, f"docs name outputs that do not exist: {sorted(named - outputs)}"


def test_environments_share_one_stack_and_differ_only_in_values():
    dev, prod = (load_module(ENVIRONMENTS / env) for env in ("dev", "prod"))
    assert set(dev.modules) == set(prod.modules) == {"tracelake"}
    assert set(dev.modules["tracelake"]) == set(prod.modules["tracelake"])
    assert dev.outputs.keys() == prod.outputs.keys()
    assert load_module(MODULES / "stack").outputs.keys() >= dev.outputs.keys()


@pytest.mark.parametrize(
    ("module", "variable", "must_mention"),
    [
        ("storage", "bucket_prefix", "bucket naming"),
        ("storage", "object_lock_retention_days", "at least 1"),
        ("storage", "object_lock_retention_days", "vacuum_retention_days"),
        ("network", "region", "region"),
        ("airflow", "airflow_version", "Airflow 3.1"),
        ("spark", "release_label", "Spark 4"),
    ],
)
def test_bad_inputs_have_validation_blocks_with_messages(module, variable, must_mention):
    body = load_module(MODULES / module).variables[variable]
    messages = " ".join(v["error_message"] for v in body.get("validation", []))
    assert must_mention in messages, (
        f"{module}.{variable}: no validation message about {must_mention}"
    )
    readme = (MODULES / module / "README.md").read_text()
    assert variable in readme, f"the {module} README must document the validation of {variable}"


def test_backends_lock_remote_state():
    for env in ("dev", "prod"):
        text = (ENVIRONMENTS / env / "versions.tf").read_text()
        backend = hcl2.loads(text)["terraform"][0]["backend"][0]
        s3 = backend['"s3"'] if '"s3"' in backend else backend["s3"]
        assert s3["use_lockfile"] is True and s3["encrypt"] is True, env
