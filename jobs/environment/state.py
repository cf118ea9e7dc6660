"""What an episode changes: the workspace (artifacts made, files written) and the components
that are executable right now. Success is judged on this state at the end of the episode."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ...schemas.component_spec import ComponentSpec


@dataclass(frozen=True)
class Artifact:
    """A document in the workspace: fetched, read, or made by an agent."""

    id: str
    kind: str  # document | dataset | summary | findings | translation | draft
    language: str
    notes: str  # `|`-joined slugs of the topics and arguments it carries (semantic checks)
    sources: frozenset[str]  # URLs and input files it derives from
    source_languages: frozenset[str]
    capabilities: frozenset[str]  # capabilities of the components that made it and its inputs
    producer: str  # name@version
    reviewed: bool = False

    def covers(self, topic_slug: str) -> bool:
        return topic_slug in self.notes


@dataclass
class Workspace:
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    files: dict[str, Artifact] = field(default_factory=dict)  # path -> artifact as written
    visited_sites: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def new_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{n}"

    def add(self, artifact: Artifact) -> Artifact:
        self.artifacts[artifact.id] = artifact
        return artifact

    def mark_reviewed(self, artifact_id: str) -> Artifact:
        art = replace(self.artifacts[artifact_id], reviewed=True)
        self.artifacts[artifact_id] = art
        return art


@dataclass
class Registry:
    """Component versions available in this episode, and which version each name runs."""

    available: dict[str, ComponentSpec]  # name@version -> spec
    active: dict[str, str]  # name -> version

    def spec(self, name: str) -> ComponentSpec | None:
        version = self.active.get(name)
        return None if version is None else self.available[f"{name}@{version}"]

    def add(self, spec: ComponentSpec, activate: bool = True) -> None:
        self.available[spec.key] = spec
        if activate:
            self.active[spec.name] = spec.version
