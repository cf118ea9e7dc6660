"""The holdout registry: what only the evaluation task set may use."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HOLDOUT_FILE = Path(__file__).with_name("holdout.yaml")


@dataclass(frozen=True)
class GapComponent:
    """A capability no available component has; an L3 task needs it written."""

    name: str
    kind: str
    purpose: str
    goal: str  # template with {topic} and {target}
    targets: tuple[str, ...]
    error: tuple[str, float]


@dataclass(frozen=True)
class Holdout:
    version: int
    goal_templates: dict[str, tuple[str, ...]]
    values: dict[str, tuple[Any, ...]]
    components: tuple[GapComponent, ...]

    @property
    def component_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.components)

    def all_values(self) -> frozenset[str]:
        """Every reserved value as text (language pairs as `A+B`)."""
        out: set[str] = set()
        for key, pool in self.values.items():
            for v in pool:
                out.add("+".join(v) if key == "language_pairs" else str(v))
        for c in self.components:
            out.update(c.targets)
        return frozenset(out)

    def all_templates(self) -> frozenset[str]:
        found = {t for ts in self.goal_templates.values() for t in ts}
        return frozenset(found | {c.goal for c in self.components})


@functools.cache
def holdout() -> Holdout:
    raw = yaml.safe_load(HOLDOUT_FILE.read_text())
    return Holdout(
        version=int(raw["version"]),
        goal_templates={k: tuple(v) for k, v in raw["goal_templates"].items()},
        values={
            k: tuple(tuple(x) if isinstance(x, list) else x for x in v)
            for k, v in raw["values"].items()
        },
        components=tuple(
            GapComponent(
                c["name"],
                c["kind"],
                c["purpose"],
                c["goal"],
                tuple(c["targets"]),
                (c["error"][0], float(c["error"][1])),
            )
            for c in raw["components"]
        ),
    )
