"""Success conditions: what the final workspace must hold. Judged on state, never on the
transcript (tau-bench style)."""

from __future__ import annotations

from typing import Any

from .state import Workspace
from .world import slug

CONDITION_KEYS = frozenset(
    {
        "file",
        "kind",
        "topics",
        "min_sources",
        "source_languages",
        "language",
        "reviewed",
        "capability",
    }
)
OUTPUT_KINDS = frozenset({"summary", "findings", "translation", "draft", "document", "dataset"})


def unmet(condition: dict[str, Any], ws: Workspace) -> list[str]:
    """Each part of `condition` the workspace does not satisfy, in words. Empty: success."""
    path = condition["file"]
    art = ws.files.get(path)
    if art is None:
        return [f"no file {path} in the workspace"]
    problems: list[str] = []
    kinds = condition.get("kind")
    if kinds and art.kind not in kinds:
        problems.append(f"{path} holds a {art.kind}, expected {' or '.join(kinds)}")
    for topic in condition.get("topics", ()):
        if not art.covers(slug(topic)):
            problems.append(f"{path} does not cover {topic!r}")
    if len(art.sources) < condition.get("min_sources", 0):
        problems.append(
            f"{path} draws on {len(art.sources)} sources, needs {condition['min_sources']}"
        )
    missing = set(condition.get("source_languages", ())) - art.source_languages
    if missing:
        problems.append(f"{path} has no {', '.join(sorted(missing))} sources")
    if condition.get("language") and art.language != condition["language"]:
        problems.append(f"{path} is in {art.language}, expected {condition['language']}")
    if condition.get("reviewed") and not art.reviewed:
        problems.append(f"{path} was written without a review")
    cap = condition.get("capability")
    if cap and cap not in art.capabilities:
        problems.append(f"{path} was made without the {cap} capability")
    return problems


def condition_problems(condition: Any) -> list[str]:
    """Shape problems of a condition (not whether it can be met: see tasks.validate_task)."""
    if not isinstance(condition, dict):
        return ["success condition is not an object"]
    problems = [f"unknown key {k!r}" for k in sorted(set(condition) - CONDITION_KEYS)]
    path = condition.get("file")
    if not isinstance(path, str) or not path:
        problems.append("success condition names no file")
    elif path.startswith(("/", "~")) or ".." in path.split("/"):
        problems.append(f"file {path!r} lies outside the workspace")
    kinds = condition.get("kind", [])
    if not isinstance(kinds, list) or set(kinds) - OUTPUT_KINDS:
        problems.append(f"kind must be a list drawn from {sorted(OUTPUT_KINDS)}")
    if not isinstance(condition.get("min_sources", 0), int) or condition.get("min_sources", 0) < 0:
        problems.append("min_sources must be a non-negative integer")
    return problems
