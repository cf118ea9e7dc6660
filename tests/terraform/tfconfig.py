"""The Terraform tree parsed with python-hcl2, in plain Python shapes.

python-hcl2 keeps the quotes of string literals and block labels and marks blocks with
`__is_block__`; `plain()` removes both, so a literal is a str and an expression stays "${...}".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULES = TERRAFORM / "modules"
ENVIRONMENTS = TERRAFORM / "environments"


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)


@dataclass
class Module:
    """One Terraform module directory: every top-level block of its .tf files."""

    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: str = ""

    @property
    def name(self) -> str:
        return str(self.path.relative_to(TERRAFORM))


@cache
def load_module(path: Path) -> Module:
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        module.text += tf.read_text() + "\n"
        with tf.open() as handle:
            parsed = plain(hcl2.load(handle))
        for block in parsed.get("variable", []):
            module.variables.update(block)
        for block in parsed.get("output", []):
            module.outputs.update(block)
        for block in parsed.get("locals", []):
            module.locals.update(block)
        for block in parsed.get("module", []):
            module.modules.update(block)
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for block in parsed.get(kind, []):
                for rtype, by_name in block.items():
                    for rname, body in by_name.items():
                        target[(rtype, rname)] = body
    return module


def module_dirs() -> list[Path]:
    return sorted(p for p in MODULES.iterdir() if p.is_dir())


def environment_dirs() -> list[Path]:
    return sorted(p for p in ENVIRONMENTS.iterdir() if p.is_dir())


def all_modules() -> list[Module]:
    return [load_module(p) for p in [*module_dirs(), *environment_dirs()]]


REFERENCE = re.compile(r"\b(var|local|module)\.([A-Za-z_][A-Za-z0-9_-]*)")


def references(module: Module, kind: str) -> set[str]:
    """Names referenced as var.X / local.X / module.X anywhere in the module's expressions."""
    found: set[str] = set()
    text_without_comments = re.sub(r"(?m)^\s*#.*$", "", module.text)
    for ref_kind, name in REFERENCE.findall(text_without_comments):
        if ref_kind == kind:
            found.add(name)
    return found


def quoted_strings(expression: str) -> list[str]:
    """String literals inside an HCL expression such as concat(local.x, ["a", "b"])."""
    return re.findall(r'"((?:[^"\\]|\\.)*)"', expression)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
