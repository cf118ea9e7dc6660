"""Preference pairs from examples (pure functions; docs/gold.md, "Preference pairs").

Outcome-based pairs: two examples of one scenario family with the exact same prompt (system and
user turns) and the same tools, identical up to one assistant turn where they diverge (the
agent's decision, not the environment's: a first difference in an observation means the runs
met a different world, and such a pair teaches luck, so it is not made). Chosen is the better
by, in order: outcome (completed over failed), fewer errors, fewer steps, lower cost.

Human pairs (ops.feedback) come first: a human judgement about two runs replaces any rule pair
of the same two runs, whichever way the rule ordered them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .assemble import stable_id

OUTCOME_RANK = {"success": 2, "success_with_recovery": 2, "failure": 0}
PROMPT_ROLES = ("system", "user")


def prompt_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    n = 0
    while n < len(messages) and messages[n]["role"] in PROMPT_ROLES:
        n += 1
    return messages[:n]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("role", "content", "reasoning", "name", "tool_calls")
    return all(a.get(k) == b.get(k) for k in keys)


def divergence(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int | None:
    """Index of the first message that differs (None when one is a prefix of the other)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if not _same(x, y):
            return i
    return None


def order(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, float] | None:
    """(reason, margin) when `a` is better than `b`, else None."""
    ra, rb = OUTCOME_RANK.get(a["outcome"], 0), OUTCOME_RANK.get(b["outcome"], 0)
    if ra != rb:
        return ("completed_vs_failed", float(ra - rb) / 2) if ra > rb else None
    if a["errors"] != b["errors"]:
        return (
            ("fewer_errors", float(b["errors"] - a["errors"]))
            if a["errors"] < b["errors"]
            else None
        )
    if a["steps"] != b["steps"]:
        return ("fewer_steps", float(b["steps"] - a["steps"])) if a["steps"] < b["steps"] else None
    if b["cost_usd"] > 0 and a["cost_usd"] < b["cost_usd"] * 0.9:  # 10%: below that it is noise
        return "lower_cost", round((b["cost_usd"] - a["cost_usd"]) / b["cost_usd"], 6)
    return None


def pair_row(
    chosen: Mapping[str, Any],
    rejected: Mapping[str, Any],
    *,
    source: str,
    reason: str,
    margin: float,
    feedback: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The pair as a gold.preferences row, or None when the two do not share a prompt."""
    cm, rm = list(chosen["messages"]), list(rejected["messages"])
    prompt = prompt_of(cm)
    if prompt_of(rm) != prompt or chosen["tools"] != rejected["tools"]:
        return None
    cut = divergence(cm, rm)
    if cut is None or cut < len(prompt):
        return None
    return {
        "pair_id": stable_id(source, chosen["run_id"], rejected["run_id"]),
        "prompt": cm[:cut],
        "chosen": cm[cut:],
        "rejected": rm[cut:],
        "tools": chosen["tools"],
        "source": source,
        "reason": reason,
        "margin": margin,
        "prefix_turns": sum(1 for m in cm[len(prompt) : cut] if m["role"] == "assistant"),
        "chosen_run_id": chosen["run_id"],
        "rejected_run_id": rejected["run_id"],
        "chosen_event_ids": list(chosen["event_ids"]),
        "rejected_event_ids": list(rejected["event_ids"]),
        "seed_run_id": chosen.get("seed_run_id") or rejected.get("seed_run_id"),
        "feedback_id": feedback["feedback_id"] if feedback else None,
        "annotator": feedback["annotator"] if feedback else None,
        "split": chosen["split"],
    }


def rule_pairs(examples: Iterable[Mapping[str, Any]], max_per_prompt: int = 4) -> list[dict]:
    """Outcome-based pairs among the examples of one scenario family."""
    by_prompt: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for ex in examples:
        key = json.dumps([prompt_of(list(ex["messages"])), ex["tools"], ex["split"]], default=str)
        by_prompt[key].append(ex)
    out = []
    for group in by_prompt.values():
        group = sorted(group, key=lambda e: e["run_id"])
        found = []
        for a in group:
            for b in group:
                if a is b:
                    continue
                why = order(a, b)
                if why is None:
                    continue
                cut = divergence(list(a["messages"]), list(b["messages"]))
                if cut is None or a["messages"][cut]["role"] != "assistant":
                    continue  # a prefix, or the world differed first: not the agent's choice
                row = pair_row(a, b, source="rule", reason=why[0], margin=why[1])
                if row is not None:
                    found.append(row)
        found.sort(key=lambda r: (-r["margin"], r["pair_id"]))
        out.extend(found[:max_per_prompt])
    return out


def human_pairs(
    feedback: Iterable[Mapping[str, Any]], examples: Mapping[str, Mapping[str, Any]]
) -> tuple[list[dict], dict[str, int]]:
    """Pairs from ops.feedback: preferences directly; two ratings of runs with one prompt by
    their difference. The latest judgement of a pair of runs wins. Returns (pairs, skipped by
    reason)."""
    skipped: dict[str, int] = defaultdict(int)
    latest: dict[frozenset[str], Mapping[str, Any]] = {}
    ratings = []
    for f in sorted(feedback, key=lambda f: (f["recorded_at"], f["feedback_id"])):
        if f["kind"] == "preference" and f.get("other_run_id"):
            latest[frozenset((f["run_id"], f["other_run_id"]))] = f
        elif f["kind"] == "rating" and f.get("rating") is not None:
            ratings.append(f)
    rated: dict[str, Mapping[str, Any]] = {r["run_id"]: r for r in ratings}  # latest per run
    runs = sorted(rated)
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            key = frozenset((a, b))
            if key in latest or rated[a]["rating"] == rated[b]["rating"]:
                continue
            hi, lo = (a, b) if rated[a]["rating"] > rated[b]["rating"] else (b, a)
            if a in examples and b in examples and _share_prompt(examples[a], examples[b]):
                latest[key] = {
                    **rated[hi],
                    "other_run_id": lo,
                    "margin": rated[hi]["rating"] - rated[lo]["rating"],
                }
    out = []
    for f in latest.values():
        chosen, rejected = examples.get(f["run_id"]), examples.get(f["other_run_id"])
        if chosen is None or rejected is None:
            skipped["run_not_an_example"] += 1
            continue
        if chosen["split"] != rejected["split"]:
            skipped["spans_splits"] += 1
            continue
        row = pair_row(
            chosen,
            rejected,
            source="human",
            reason=f"human {f['kind']}" + (f": {f['note']}" if f.get("note") else ""),
            margin=float(f.get("margin", 1.0)),
            feedback=f,
        )
        if row is None:
            skipped["prompts_differ"] += 1
            continue
        out.append(row)
    return out, dict(skipped)


def _share_prompt(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return prompt_of(list(a["messages"])) == prompt_of(list(b["messages"]))


def merge(human: list[dict], rules: Iterable[dict]) -> list[dict]:
    """Human pairs, then the rule pairs of runs no human judged."""
    judged = {frozenset((p["chosen_run_id"], p["rejected_run_id"])) for p in human}
    kept = [p for p in rules if frozenset((p["chosen_run_id"], p["rejected_run_id"])) not in judged]
    return [*human, *kept]
