"""Agent and tool definitions (docs/trace-formats.md B, Components): markdown files whose header is
YAML front matter (`name` / `agent_name` / `tool_name`, `version`, `status`, `tools`,
`replaces`) or `**Name**:` style lines. Each definition is one component event; a definition
that `replaces` another is a component_evolved event."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tracelake.schemas.component_spec import spec_from_definition

from .. import markdown as md
from ..component_names import resolve
from ..model import Rejection, SourceDoc
from ..units import parse_timestamp
from ._build import RunBuilder, template_rejection

PRODUCER = "llmunix"
_NAME_KEYS = ("name", "agent_name", "tool_name", "component_name", "component")
_STATUS = {
    "production": ("production", "stable", "active", "released", "ga", "live"),
    "experimental": ("experimental", "beta", "alpha", "draft", "preview", "testing"),
    "deprecated": ("deprecated", "retired", "legacy", "obsolete", "superseded", "archived"),
}
_OTHER_FORMATS = re.compile(
    r"execution_id|experience_id|trace_id|goal_signature|^##\s*(Execution|Steps|Tool Calls)\b",
    re.IGNORECASE | re.MULTILINE,
)


def component_status(value: object) -> str | None:
    text = str(value or "").strip().lower()
    for status, words in _STATUS.items():
        if any(w in text for w in words):
            return status
    return None


def _kind(header: dict[str, Any], name_key: str | None, uri: str) -> str | None:
    declared = str(header.get("type") or header.get("kind") or header.get("category") or "").lower()
    if "agent" in declared:
        return "agent"
    if "tool" in declared:
        return "tool"
    if name_key == "agent_name":
        return "agent"
    if name_key == "tool_name":
        return "tool"
    path = uri.replace("\\", "/").lower()
    if "/agents/" in path:
        return "agent"
    if "/tools/" in path:
        return "tool"
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return md.parse_inline_list(str(value))


class ComponentDefinition:
    name = "llmunix.component"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        if _OTHER_FORMATS.search(text):
            return 0.0
        score = 0.0
        lines = md.lines_of(text)
        fm, _ = md.front_matter(lines)
        keys: set[str] = set()
        if fm is not None and fm.data is not None:
            keys = {md.norm_key(k) for k in fm.data}
        else:
            keys = {kv.key for kv in md.key_values(lines[:40])}
        if keys & set(_NAME_KEYS):
            score += 0.45
            score += 0.1 * len(
                keys
                & {
                    "version",
                    "status",
                    "tools",
                    "description",
                    "type",
                    "replaces",
                    "capabilities",
                    "registry_id",
                }
            )
        path = uri.replace("\\", "/").lower()
        if re.search(r"(agent|tool)s?/|(agent|tool)(_v\d+)?\.md$", path):
            score += 0.2
        return min(score, 0.9) if keys & set(_NAME_KEYS) else 0.0

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        fm, body = md.front_matter(lines)
        header: dict[str, Any] = {}
        where: list[md.Line]
        if fm is not None and fm.data is not None:
            header = {md.norm_key(k): v for k, v in fm.data.items()}
            where = fm.lines
        else:
            if fm is not None:
                yield Rejection(
                    "unparseable",
                    f"front matter is not valid YAML ({fm.error}); header bullets are tried",
                    md.raw_text(fm.lines),
                    md.position(*fm.range),
                )
            kvs = md.key_values(body[:80])
            header = {kv.key: (kv.items or kv.value) for kv in kvs}
            where = [ln for kv in kvs for ln in kv.lines]
        name_key = next((k for k in _NAME_KEYS if header.get(k)), None)
        raw_name = header.get(name_key) if name_key else None
        if raw_name is None:
            h1 = next((s for s in md.sections(body) if s.level == 1), None)
            raw_name = h1.title if h1 else None
        if raw_name is None or md.contains_placeholder(str(raw_name)):
            yield (
                template_rejection("component definition", md.strip_blank(lines), doc.text())
                if raw_name is not None
                else Rejection(
                    "unparseable",
                    "component definition names no component (no name/agent_name/tool_name)",
                    doc.text(),
                    md.position(*md.span(lines)),
                )
            )
            return
        for key, value in header.items():
            if isinstance(value, str) and md.is_placeholder(value):
                yield template_rejection(f"component field {key!r}", where, f"{key}: {value}")
        header = {
            k: v for k, v in header.items() if not (isinstance(v, str) and md.is_placeholder(v))
        }
        kind = _kind(header, name_key, doc.uri)
        registry_id = header.get("registry_id") or header.get("id")
        component = resolve(raw_name, kind=kind, version=header.get("version"))
        assert component is not None
        if component.version is None and registry_id:
            from_registry = resolve(registry_id)
            if from_registry and from_registry.version:
                component = type(component)(
                    component.name, component.kind, from_registry.version, component.raw
                )
        replaces_raw = header.get("replaces") or header.get("supersedes")
        replaces = resolve(replaces_raw, kind=component.kind) if replaces_raw else None
        status = component_status(header.get("status"))
        tools = [
            r.name for r in (resolve(t, kind="tool") for t in _as_list(header.get("tools"))) if r
        ]
        ts = parse_timestamp(
            header.get("created")
            or header.get("updated")
            or header.get("date")
            or header.get("last_modified")
        )
        b = RunBuilder(f"component:{component.name}@{component.version or 'unversioned'}", ts=ts)
        consumed = {
            "name",
            "agent_name",
            "tool_name",
            "component_name",
            "component",
            "version",
            "status",
            "replaces",
            "supersedes",
            "tools",
            "type",
            "kind",
            "registry_id",
            "id",
            "description",
        }
        description = header.get("description")
        if description is None:
            description = next(
                (
                    p
                    for p in md.paragraph_text(body).split("\n\n")
                    if p and not p.startswith(("#", "-", "*", "**", "---"))
                ),
                None,
            )
        # The same executable spec shape the simulator emits (one source of tool schemas).
        spec, spec_problem = spec_from_definition(
            header, component.name, component.kind, component.version, description
        )
        yield b.event(
            "component_evolved" if replaces else "component_created",
            where or lines[:1],
            component=component,
            action=f"{component.kind or 'component'} definition",
            output={"spec": spec} if spec else None,
            attributes={
                "spec_problem": spec_problem,
                "component_status": status,
                "component_status_raw": header.get("status"),
                "replaces": replaces.name if replaces else None,
                "replaces_version": replaces.version if replaces else None,
                "replaces_raw": replaces_raw,
                "registry_id": registry_id,
                "tools": tools or None,
                "description": description,
                "definition_file": re.split(r"[/\\]", doc.uri)[-1],
                "declared_version": header.get("version"),
                **{k: v for k, v in header.items() if k not in consumed and v not in (None, "")},
            },
        )


DIALECTS = [ComponentDefinition()]
