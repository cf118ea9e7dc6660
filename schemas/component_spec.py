"""ComponentSpec: the executable description of one component version.

Shaped like an llmunix component document (purpose, kind, input parameters, output shape, error
modes, retries, fallback, timeout, capability tags, change note). One spec per `name@version`;
it is the one source of the tool schemas used everywhere (the environment executes it, training
renders it as an OpenAI function tool, validation checks tool calls against `parameters`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SPEC_VERSION = 1

# OpenAI function names: letters, digits, `_` and `-`, at most 64 characters.
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_VERSION_RE = re.compile(r"^\d+(\.\d+){0,2}$")
_JSON_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}


class ErrorMode(BaseModel):
    """One way a call can fail, and how often it does on a first attempt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_type: str = Field(min_length=1, max_length=64, description="e.g. http_403, timeout.")
    rate: float = Field(ge=0.0, le=1.0, description="Probability per first attempt.")
    transient: bool = Field(
        default=True, description="A retry can succeed (http_403, timeout); else it repeats."
    )


class ComponentSpec(BaseModel):
    """One component version, executable by the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Canonical component name; also the tool's function name.")
    version: str = Field(description="Dotted version, e.g. 1.1 or 2.0.0.")
    kind: Literal["agent", "tool"] = Field(description="agent (LLM-backed) or tool.")
    purpose: str = Field(min_length=3, max_length=400, description="What it does, one line.")
    parameters: dict[str, Any] = Field(
        description="Input parameters as a JSON Schema of type object."
    )
    output: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"}, description="Output shape, a JSON Schema."
    )
    error_modes: tuple[ErrorMode, ...] = Field(default=(), description="Failure modes.")
    retries: int = Field(default=0, ge=0, le=5, description="Automatic retries per call.")
    retry_on: tuple[str, ...] = Field(
        default=(), description="Error types that are retried (`retries` times at most)."
    )
    fallback: str | None = Field(
        default=None, description="Component called when the call still fails (same arguments)."
    )
    timeout_ms: float = Field(default=30_000.0, gt=0, description="Calls slower than this fail.")
    latency_ms: float = Field(default=400.0, ge=0, description="Typical call latency.")
    latency_spread: float = Field(default=0.5, ge=0, le=3, description="Lognormal sigma.")
    tokens_in: int = Field(default=0, ge=0, description="Typical prompt tokens per call.")
    tokens_out: int = Field(default=0, ge=0, description="Typical completion tokens per call.")
    capabilities: tuple[str, ...] = Field(default=(), description="Capability tags.")
    change_note: str | None = Field(default=None, description="What this version changed.")
    registry_id: str | None = Field(default=None, description="Registry id of the version.")
    spec_version: int = Field(default=SPEC_VERSION, ge=1, description="Shape version.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"component name {value!r} must start with a letter and use only letters, "
                "digits, _ and - (at most 64 characters)"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION_RE.match(value):
            raise ValueError(f"version {value!r} is not dotted numbers such as 1.2.0")
        return value

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = schema_problems(value)
        if value.get("type") != "object":
            problems.insert(0, "parameters must be a JSON Schema with type object")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ComponentSpec:
        kinds = {m.error_type for m in self.error_modes}
        if len(kinds) != len(self.error_modes):
            raise ValueError("error_modes lists an error type twice")
        if sum(m.rate for m in self.error_modes) > 1.0:
            raise ValueError("error_modes rates add up to more than 1")
        if self.retry_on and not self.retries:
            raise ValueError("retry_on is set but retries is 0")
        if self.fallback == self.name:
            raise ValueError("a component cannot be its own fallback")
        return self

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def tool_schema(self) -> dict[str, Any]:
        """The OpenAI function-tool rendering of this spec."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": f"{self.purpose} ({self.kind} {self.version})",
                "parameters": self.parameters,
            },
        }


def version_key(version: str) -> tuple[int, ...]:
    """Orders dotted versions numerically (1.10 after 1.9)."""
    return tuple(int(p) for p in version.split("."))


def schema_problems(schema: Any, where: str = "parameters") -> list[str]:
    """Structural problems of a JSON Schema, in the subset the environment validates."""
    if not isinstance(schema, dict):
        return [f"{where} is not an object"]
    problems: list[str] = []
    kind = schema.get("type")
    if kind is not None and kind not in _JSON_TYPES:
        problems.append(f"{where}.type {kind!r} is not a JSON type")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        problems.append(f"{where}.properties is not an object")
    else:
        for name, sub in props.items():
            problems.extend(schema_problems(sub, f"{where}.properties.{name}"))
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append(f"{where}.required is not a list of names")
    elif isinstance(props, dict):
        problems.extend(
            f"{where}.required names {r!r}, which is not a property"
            for r in required
            if r not in props
        )
    if "items" in schema:
        problems.extend(schema_problems(schema["items"], f"{where}.items"))
    return problems


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def argument_problems(schema: dict[str, Any], value: Any, where: str = "arguments") -> list[str]:
    """Where `value` breaks `schema` (type, required, properties, additionalProperties, enum,
    items, minItems, maxItems, minLength, minimum, maximum, pattern). Empty when it fits."""
    kind = schema.get("type")
    if kind is not None:
        types = _PY_TYPES.get(kind, ())
        wrong = not isinstance(value, types) or (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if wrong:
            return [f"{where} must be {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where} must be one of {schema['enum']}, got {value!r}"]
    problems: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        problems.extend(
            f"{where}.{r} is required" for r in schema.get("required", ()) if r not in value
        )
        for key, item in value.items():
            if key in props:
                problems.extend(argument_problems(props[key], item, f"{where}.{key}"))
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where}.{key} is not a known parameter")
    elif isinstance(value, list | tuple):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where} needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where} takes at most {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                problems.extend(argument_problems(schema["items"], item, f"{where}[{i}]"))
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{where} is shorter than {schema['minLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where} does not match {schema['pattern']}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where} is above {schema['maximum']}")
    return problems


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in re.split(r"[,;]", str(value)) if p.strip()]


def _parameters_from(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value.get("type") == "object":
        return value
    if isinstance(value, dict):  # {name: type or description}
        props = {
            str(k): {"type": v if v in _JSON_TYPES else "string", "description": str(v)}
            if isinstance(v, str)
            else {"type": "string"}
            for k, v in value.items()
        }
        return {"type": "object", "properties": props, "required": sorted(props)}
    names = _names(value)
    return {
        "type": "object",
        "properties": {n: {"type": "string"} for n in names},
        "required": names,
    }


def spec_from_definition(
    header: dict[str, Any],
    name: str,
    kind: str | None,
    version: str | None,
    description: str | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Maps an llmunix component definition (its front matter) to a spec document.

    Returns (spec, None) or (None, why it cannot be mapped). Missing parts get the defaults a
    component without error handling has: no retries, no fallback, no declared errors.
    """
    timeout = header.get("timeout_ms") or header.get("timeout")
    try:
        timeout_ms = float(str(timeout).removesuffix("ms").removesuffix("s")) if timeout else None
        if timeout_ms is not None and not header.get("timeout_ms") and timeout_ms < 1000:
            timeout_ms *= 1000.0  # `timeout: 30` means seconds
        retries = int(header.get("retries") or header.get("max_retries") or 0)
    except ValueError as exc:
        return None, f"timeout or retries is not a number ({exc})"
    retry_on = _names(header.get("retry_on"))
    doc: dict[str, Any] = {
        "name": re.sub(r"[^A-Za-z0-9_-]", "", name)[:64] or "Unnamed",
        "version": version if version and _VERSION_RE.match(str(version)) else "0",
        "kind": kind or "tool",
        "purpose": (description or f"{name} {kind or 'component'}").strip()[:400],
        "parameters": _parameters_from(header.get("parameters") or header.get("inputs")),
        "retries": retries,
        "retry_on": retry_on or (["timeout"] if retries else []),
        "fallback": header.get("fallback") or None,
        "capabilities": _names(header.get("capabilities")),
        "change_note": header.get("change_note") or header.get("changes") or None,
        "registry_id": header.get("registry_id") or header.get("id") or None,
    }
    if timeout_ms:
        doc["timeout_ms"] = timeout_ms
    try:
        return ComponentSpec.model_validate(doc).model_dump(mode="json"), None
    except ValueError as exc:
        return None, str(exc).splitlines()[0]
