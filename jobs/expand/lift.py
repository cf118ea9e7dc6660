"""Lifting a seed run into the environment: which task family, which slot values, which
component versions. A goal written from a known (training) template is read by the template;
any other goal goes to the typed-slot extractor (`slots`), which keeps the goal's own wording.
A seed neither can place is rejected with the reason, never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..environment.holdout import holdout
from ..environment.specs import builtin_specs
from ..environment.taskgen import FAMILIES, Pools, training_pools
from ..environment.world import SITE_LANGUAGE
from .slots import lift_free_form

_LEVEL_OF = {family: level for level, families in FAMILIES.items() for family in families}
_SLOT_RE = re.compile(r"\{(\w+)\}")
# Components whose version the seed decides (the task keeps the seed's version).
_VERSIONED = {
    "WebFetcherTool": "fetcher",
    "SummarizationAgent": "summarizer",
}


@dataclass
class Seed:
    run_id: str
    family: str
    level: int
    fixed: dict[str, Any]
    variant: dict[str, Any] = field(default_factory=dict)
    outcome: str = "unknown"
    start_ts: str | None = None


class LiftError(ValueError):
    """A seed that cannot be expanded; the message says why."""


def _template_regex(template: str) -> re.Pattern[str]:
    parts = _SLOT_RE.split(template)
    out = []
    for i, part in enumerate(parts):
        out.append(f"(?P<{part}>.+?)" if i % 2 else re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def _templates(pools: Pools) -> list[tuple[str, str, re.Pattern[str]]]:
    found = []
    for family, templates in pools.templates.items():
        if family == "novel_capability":
            continue
        for t in templates:
            found.append((family, t, _template_regex(t)))
    for gap in pools.gaps:
        found.append(("novel_capability", gap.goal, _template_regex(gap.goal)))
    return found


_TRAINING = training_pools()
_TEMPLATES = _templates(_TRAINING)
_RESERVED = holdout().all_values()


def lift(events: list[dict[str, Any]]) -> Seed:
    """The seed's task parameters; LiftError when the run cannot be expanded."""
    if not events:
        raise LiftError("seed run has no events")
    run_id = events[0].get("run_id") or "?"
    ordered = sorted(events, key=lambda e: (e.get("seq", 0), str(e.get("ts"))))
    goal = next((e.get("goal") for e in ordered if e.get("goal")), None)
    if not goal:
        raise LiftError("seed run has no goal")
    terminal = [
        e["event_type"] for e in ordered if e["event_type"] in ("run_completed", "run_failed")
    ]
    if not terminal:
        raise LiftError("seed run is incomplete (no run_completed or run_failed)")
    for family, template, regex in _TEMPLATES:
        m = regex.match(goal)
        if not m:
            continue
        slots = {k: v.strip() for k, v in m.groupdict().items()}
        fixed: dict[str, Any] = {}
        if family == "novel_capability":
            fixed["need"] = next(g for g in _TRAINING.gaps if g.goal == template)
            fixed["template"] = "{gap_goal}"
        else:
            fixed["template"] = template
        for key, value in slots.items():
            if value in _RESERVED:
                raise LiftError(f"seed goal uses {value!r}, which is reserved for evaluation")
            if key in ("lang1", "lang2"):
                continue
            fixed[key] = value
        if "lang1" in slots:
            pair = (slots["lang1"], slots["lang2"])
            unknown = [lang for lang in pair if lang not in SITE_LANGUAGE.values()]
            if unknown:
                raise LiftError(f"no site publishes in {', '.join(unknown)}")
            fixed["language_pair"] = pair
        _pin_versions(ordered, fixed)
        variant = {"recall": any(e["event_type"] == "memory_consulted" for e in ordered)}
        return Seed(
            run_id=run_id,
            family=family,
            level=_LEVEL_OF[family],
            fixed=fixed,
            variant=variant,
            outcome="failure" if terminal[-1] == "run_failed" else "success",
            start_ts=str(ordered[0].get("ts")),
        )
    components = {e["component_name"] for e in ordered if e.get("component_name")}
    family, found = lift_free_form(goal, components, _TRAINING, _RESERVED)
    if family is None:
        raise LiftError(f"free-form seed goal {goal[:80]!r}: {found}")
    assert isinstance(found, dict)
    _pin_versions(ordered, found)
    return Seed(
        run_id=run_id,
        family=family,
        level=_LEVEL_OF[family],
        fixed=found,
        variant={"recall": any(e["event_type"] == "memory_consulted" for e in ordered)},
        outcome="failure" if terminal[-1] == "run_failed" else "success",
        start_ts=str(ordered[0].get("ts")),
    )


def _pin_versions(events: list[dict[str, Any]], fixed: dict[str, Any]) -> None:
    specs = builtin_specs()
    used: dict[str, str] = {}
    for e in events:
        name, version = e.get("component_name"), e.get("component_version")
        if name and version and f"{name}@{version}" in specs:
            used[name] = version
    for name, key in _VERSIONED.items():
        if name in used:
            fixed[key] = f"{name}@{used[name]}"
    if "TranslationAgent" in used:
        fixed["translators"] = (f"TranslationAgent@{used['TranslationAgent']}",)
