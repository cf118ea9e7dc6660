"""The component specs the environment executes: every simulator component version, the
components only the environment knows, and specs for components written on demand.

Interfaces (parameters, retries, fallback, timeout, capabilities) live in `components.yaml`;
error rates, latencies, tokens and change notes of simulator components live in the simulator
catalog. `builtin_specs()` joins the two, so the simulator's events and the environment agree.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from ...schemas.component_spec import ComponentSpec, ErrorMode, version_key
from ..simulate.catalog import COMPONENTS, VersionSpec

COMPONENTS_FILE = Path(__file__).with_name("components.yaml")

# Error types a retry can clear; the others repeat on the same input.
TRANSIENT_ERRORS = frozenset({"http_403", "timeout", "bad_output", "rate_limited"})

# Parameters of a component written on demand (create_component): it consumes workspace
# artifacts and writes one finding artifact tagged with its capabilities.
NOVEL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "inputs": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Artifact ids to work on.",
        },
        "target": {"type": "string", "description": "What to map or relate the result to."},
    },
    "required": ["inputs"],
    "additionalProperties": False,
}
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def capability_of(component: str) -> str:
    """The capability tag a novel component provides: its name without the kind, snake_case."""
    base = component.removesuffix("Tool").removesuffix("Agent")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()


@functools.cache
def _interfaces() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPONENTS_FILE.read_text())


def _error_modes(errors: tuple[tuple[str, float], ...]) -> tuple[ErrorMode, ...]:
    return tuple(
        ErrorMode(error_type=e, rate=r, transient=e in TRANSIENT_ERRORS) for e, r in errors
    )


def _from_catalog(name: str, kind: str, purpose: str, v: VersionSpec, iface: dict) -> ComponentSpec:
    extra = dict(iface["versions"].get(v.version) or {})
    return ComponentSpec(
        name=name,
        version=v.version,
        kind=kind,  # type: ignore[arg-type]
        purpose=purpose,
        parameters=iface["parameters"],
        output=iface.get("output", {"type": "object"}),
        error_modes=_error_modes(v.errors),
        latency_ms=v.latency_ms[0],
        latency_spread=v.latency_ms[1],
        tokens_in=v.tokens[0],
        tokens_out=v.tokens[1],
        change_note=v.note or None,
        registry_id=v.registry_id,
        capabilities=tuple(extra.pop("capabilities", iface.get("capabilities", ()))),
        **extra,
    )


@functools.cache
def builtin_specs() -> dict[str, ComponentSpec]:
    """Every known component version, keyed `name@version`."""
    out: dict[str, ComponentSpec] = {}
    ifaces = _interfaces()
    for name, iface in ifaces.items():
        comp = COMPONENTS.get(name)
        if comp is not None:
            for v in comp.versions:
                spec = _from_catalog(name, comp.kind, comp.purpose, v, iface)
                out[spec.key] = spec
            continue
        for version, extra in iface["versions"].items():
            extra = dict(extra or {})
            extra.setdefault("capabilities", iface.get("capabilities", ()))
            spec = ComponentSpec(
                name=name,
                version=version,
                kind=iface["kind"],
                purpose=iface["purpose"],
                parameters=iface["parameters"],
                output=iface.get("output", {"type": "object"}),
                **extra,
            )
            out[spec.key] = spec
    missing = [
        f"{c.name}@{v.version}"
        for c in COMPONENTS.values()
        for v in c.versions
        if f"{c.name}@{v.version}" not in out
    ]
    if missing:  # a simulator component without an interface is a programming error
        raise RuntimeError(f"components.yaml has no interface for {', '.join(missing)}")
    return out


def spec_for(name: str, version: str) -> ComponentSpec | None:
    return builtin_specs().get(f"{name}@{version}")


def versions_of(name: str) -> list[ComponentSpec]:
    """Known versions of a component, oldest first."""
    found = [s for s in builtin_specs().values() if s.name == name]
    return sorted(found, key=lambda s: version_key(s.version))


def novel_spec(
    component: str,
    kind: str,
    purpose: str,
    error: tuple[str, float],
    version: str = "0.1.0",
    change_note: str | None = None,
) -> ComponentSpec:
    """The spec of a component written on demand (simulator novel needs, L3 capability gaps)."""
    agent = kind == "agent"
    slug = _NON_SLUG.sub("_", capability_of(component))
    return ComponentSpec(
        name=component,
        version=version,
        kind=kind,  # type: ignore[arg-type]
        purpose=purpose,
        parameters=NOVEL_PARAMETERS,
        output={"type": "object", "properties": {"artifact": {"type": "string"}}},
        error_modes=_error_modes((error,)),
        retries=1 if version != "0.1.0" else 0,
        retry_on=(error[0],) if version != "0.1.0" else (),
        latency_ms=6500.0 if agent else 1800.0,
        latency_spread=0.45 if agent else 0.5,
        tokens_in=2800 if agent else 0,
        tokens_out=900 if agent else 0,
        capabilities=(slug,),
        change_note=change_note,
        registry_id=f"{kind}_{slug}_v{version.replace('.', '_')}",
    )


def spec_document(spec: ComponentSpec) -> dict[str, Any]:
    """A spec as a JSON-ready dict (what events carry and silver.components keeps)."""
    return spec.model_dump(mode="json")


def simulator_spec_document(name: str, kind: str, purpose: str, v: VersionSpec) -> dict[str, Any]:
    """The spec a simulator `component_created`/`component_evolved` event carries for version
    `v`: the known spec, or (components written on demand) the novel-component shape."""
    spec = spec_for(name, v.version)
    if spec is None:
        error = v.errors[0] if v.errors else ("bad_output", 0.0)
        spec = novel_spec(name, kind, purpose, error, v.version, v.note or None)
    return spec_document(spec)
