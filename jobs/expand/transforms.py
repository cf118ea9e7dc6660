"""The transforms: each a small named step that changes a candidate and records its parameters.

A candidate is the recipe of one variation: the seed's task choices (`fixed`), its structure
(`variant`), and what happens while it runs (injected faults, a violation, a paraphrase).
Transforms never touch the holdout: new values come from the training pools only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..environment.specs import builtin_specs, versions_of
from ..environment.taskgen import training_pools

POOLS = training_pools()
# Slot -> the pool its substitutes come from.
SLOT_POOLS = {
    "topic": "topics",
    "dataset": "datasets",
    "metric": "metrics",
    "audience": "audiences",
    "content_kind": "content_kinds",
    "market": "markets",
    "tech": "techs",
    "industry": "industries",
    "language_pair": "language_pairs",
}
FOREIGN_LANGUAGES = tuple(
    sorted({lang for pair in POOLS.values["language_pairs"] for lang in pair})
)
VIOLATIONS = ("over_budget", "write_outside_workspace", "secret_sent", "unverified_final")
SECRET_PLACEHOLDER = "<SECRET:api_key>"
# Families whose single source can fan out or gain a translated source.
WIDENABLE = ("web_research_summary", "novel_capability")


@dataclass(frozen=True)
class Candidate:
    seed_run_id: str
    family: str
    level: int
    fixed: dict[str, Any]
    variant: dict[str, Any]
    chain: tuple[dict[str, Any], ...] = ()
    fault: dict[str, Any] | None = None  # {"step": n, "error_type": e, "recover": bool}
    violation: str | None = None
    paraphrase: int | None = None

    def applied(self, name: str, params: dict[str, Any], **changes: Any) -> Candidate:
        return replace(self, chain=(*self.chain, {"transform": name, **params}), **changes)


Transform = Callable[[Candidate, random.Random], Candidate | None]


def slot_substitution(c: Candidate, rng: random.Random) -> Candidate | None:
    slots = [s for s in SLOT_POOLS if s in c.fixed]
    if c.family == "novel_capability" and "target" in c.fixed:
        slots.append("target")
    if not slots:
        return None
    slot = slots[rng.randrange(len(slots))]
    pool = c.fixed["need"].targets if slot == "target" else POOLS.values[SLOT_POOLS[slot]]
    options = [v for v in pool if v != c.fixed[slot]]
    if not options:
        return None
    new = options[rng.randrange(len(options))]
    fixed = {k: v for k, v in c.fixed.items() if k not in ("file", "url")}  # re-derived
    fixed[slot] = new
    show = "+".join(new) if isinstance(new, tuple) else new
    old = c.fixed[slot]
    was = "+".join(old) if isinstance(old, tuple) else old
    return c.applied("slot_substitution", {"slot": slot, "from": was, "to": show}, fixed=fixed)


def structural_variation(c: Candidate, rng: random.Random) -> Candidate | None:
    options = ["check_refine"]
    if c.variant.get("recall"):
        options.append("drop_optional")
    if c.family in WIDENABLE and not c.variant.get("fanout"):
        options.append("fan_out")
    if c.family in WIDENABLE and not c.variant.get("translate"):
        options.append("add_translate")
    if c.family == "content_creation":  # already reviewed by construction
        options.remove("check_refine")
    if not options:
        return None
    kind = options[rng.randrange(len(options))]
    variant = dict(c.variant)
    params: dict[str, Any] = {"variation": kind}
    if kind == "check_refine":
        variant["review"] = True
    elif kind == "drop_optional":
        variant["recall"] = False
        params["step"] = "recall_memory"
    elif kind == "fan_out":
        variant["fanout"] = params["sources"] = 2 + rng.randrange(2)
    else:
        variant["translate"] = params["language"] = FOREIGN_LANGUAGES[
            rng.randrange(len(FOREIGN_LANGUAGES))
        ]
    return c.applied("structural_variation", params, variant=variant)


def fault_injection(c: Candidate, rng: random.Random) -> Candidate | None:
    # The step is chosen after the plan is built (see episode.plan_fault); here only the
    # kind of fault and whether the agent recovers.
    recover = rng.random() < 0.7
    params = {"recover": recover, "pick": rng.random()}
    return c.applied("fault_injection", params, fault=params)


def version_swap(c: Candidate, rng: random.Random) -> Candidate | None:
    swappable = {"fetcher": "WebFetcherTool", "summarizer": "SummarizationAgent"}
    if c.family == "data_analysis" or c.family == "content_creation":
        return None
    key = list(swappable)[rng.randrange(len(swappable))]
    name = swappable[key]
    current = c.fixed.get(key)
    others = [s.key for s in versions_of(name) if s.key != current]
    if not others:
        return None
    new = others[rng.randrange(len(others))]
    fixed = {**c.fixed, key: new}
    return c.applied("version_swap", {"component": name, "from": current, "to": new}, fixed=fixed)


def constraint_violation(c: Candidate, rng: random.Random) -> Candidate | None:
    kind = VIOLATIONS[rng.randrange(len(VIOLATIONS))]
    if kind == "unverified_final" and not (
        c.variant.get("review") or c.family == "content_creation"
    ):
        kind = "secret_sent"
    return c.applied("constraint_violation", {"violation": kind}, violation=kind)


PARAPHRASES: tuple[Callable[[str], str], ...] = (
    lambda g: f"Please {g[0].lower()}{g[1:]}",
    lambda g: f"I need you to {g[0].lower()}{g[1:]}",
    lambda g: f"{g}. Keep it concise",
    lambda g: f"Task: {g}",
    lambda g: g.replace("Summarise", "Summarize").replace("Analyse", "Analyze"),
    lambda g: f"Could you {g[0].lower()}{g[1:]}?",
)


def goal_paraphrase(c: Candidate, rng: random.Random) -> Candidate | None:
    which = rng.randrange(len(PARAPHRASES))
    return c.applied("goal_paraphrase", {"template": which, "llm": False}, paraphrase=which)


TRANSFORMS: dict[str, Transform] = {
    "slot_substitution": slot_substitution,
    "structural_variation": structural_variation,
    "fault_injection": fault_injection,
    "version_swap": version_swap,
    "constraint_violation": constraint_violation,
    "goal_paraphrase": goal_paraphrase,
}
DEFAULT_MIX: dict[str, float] = {
    "slot_substitution": 0.3,
    "structural_variation": 0.2,
    "fault_injection": 0.15,
    "version_swap": 0.1,
    "constraint_violation": 0.1,
    "goal_paraphrase": 0.15,
}


def error_types_of(component_key: str) -> list[str]:
    spec = builtin_specs().get(component_key)
    found = [m.error_type for m in spec.error_modes] if spec else []
    return found or ["timeout"]


def known_transform(name: str) -> bool:
    return name in TRANSFORMS


def chain_names(c: Candidate) -> list[str]:
    return [step["transform"] for step in c.chain]
