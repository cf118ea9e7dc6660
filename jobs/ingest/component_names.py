"""One canonical name (and version) per agent or tool, whatever the trace calls it.

The same component shows up as a framework class name (`WebFetcherTool`), the native tool it
wraps (`WebFetch`), a registry id (`tool_web_fetcher_v1`), a file-name style
(`web-fetcher-tool`) or a versioned name (`SummarizationAgent_v2`). Lineage and pattern mining
only work when all of these become one name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Framework tools that wrap a native tool are the native tool (docs/trace-formats.md, Components).
# SearchTool covers both Grep and Glob; Grep is its canonical name.
ALIASES: dict[str, str] = {
    "WebFetcherTool": "WebFetch",
    "FileWriterTool": "Write",
    "FileReaderTool": "Read",
    "SearchTool": "Grep",
    "SystemTool": "Bash",
    "SubTaskTool": "Task",
    # Registry ids name agents by role (`agent_summarizer_v2`), files by class name.
    "SummarizerAgent": "SummarizationAgent",
}
NATIVE_TOOLS = frozenset(
    {
        "WebFetch",
        "WebSearch",
        "Read",
        "Write",
        "Edit",
        "MultiEdit",
        "Grep",
        "Glob",
        "Bash",
        "Task",
        "LS",
        "TodoWrite",
        "NotebookEdit",
    }
)
_BY_FOLDED = {k.casefold(): v for k, v in ALIASES.items()} | {n.casefold(): n for n in NATIVE_TOOLS}

_REGISTRY_ID = re.compile(
    r"^(?P<kind>tool|agent)[_\-](?P<base>.+?)(?:[_\-]v(?P<ver>\d+(?:[._]\d+)*))?$", re.IGNORECASE
)
_VERSION_SUFFIX = re.compile(r"^(?P<base>.+?)[_\-\s]?[vV](?P<ver>\d+(?:[._]\d+)*)$")


@dataclass(frozen=True)
class ComponentRef:
    name: str  # canonical
    kind: str | None  # agent | tool | None when nothing tells
    version: str | None  # normalised, e.g. 2.0.0
    raw: str  # as written in the trace


def normalise_version(value: object) -> str | None:
    """ "v1" -> "1.0.0", "2.1" -> "2.1.0", "1.0.0" stays; other text is kept as written."""
    if value is None:
        return None
    text = str(value).strip().strip("`\"'")
    if not text:
        return None
    match = re.fullmatch(r"[vV]?(\d+(?:[._]\d+){0,2})", text)
    if not match:
        return text
    parts = re.split(r"[._]", match.group(1))
    parts += ["0"] * (3 - len(parts))
    return ".".join(str(int(p)) for p in parts)


def _camel(text: str) -> str:
    words = [w for w in re.split(r"[\s_\-./]+", text) if w]
    if len(words) == 1 and not text.islower():
        return words[0][0].upper() + words[0][1:]
    return "".join(w[0].upper() + w[1:].lower() if w.islower() or w.isupper() else w for w in words)


def _kind_of(name: str) -> str | None:
    if name in NATIVE_TOOLS or name.endswith("Tool"):
        return "tool"
    if name.endswith("Agent"):
        return "agent"
    return None


def resolve(
    raw: object, kind: str | None = None, version: object = None, camelise: bool = True
) -> ComponentRef | None:
    """Canonical reference for a name as written; None for empty text.

    An explicit `version` (e.g. from the definition's header) wins over one in the name.
    camelise=False keeps names that are no alias, native tool or registry id as written
    (function names in chat datasets are identifiers, not llmunix class names)."""
    if raw is None:
        return None
    text = str(raw).strip().strip("`*\"'").strip()
    text = re.sub(r"\.(md|py|json|ya?ml)$", "", text.rsplit("/", 1)[-1])
    if not text:
        return None
    name_version = None
    registry = _REGISTRY_ID.match(text)
    if registry:
        kind = kind or registry.group("kind").lower()
        name_version = registry.group("ver")
        base = _camel(registry.group("base"))
        suffix = "Tool" if kind == "tool" else "Agent"
        name = base if base.endswith(suffix) else base + suffix
    else:
        suffix_match = _VERSION_SUFFIX.match(text)
        if suffix_match and not suffix_match.group("base").endswith(("_", "-")):
            text, name_version = suffix_match.group("base"), suffix_match.group("ver")
        name = _camel(text)
    known = _BY_FOLDED.get(name.casefold())
    if known is None and not camelise and not registry:
        name = str(raw).strip()
    name = known or name
    kind = kind or _kind_of(name)
    return ComponentRef(
        name=name,
        kind=kind,
        version=normalise_version(version) or normalise_version(name_version),
        raw=str(raw),
    )


def canonical_name(raw: object) -> str | None:
    ref = resolve(raw)
    return ref.name if ref else None
