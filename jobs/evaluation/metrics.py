"""The benchmark's metrics; each formula is written out in docs/evaluation.md.

Inputs are episode records (plain dicts, `runner.record_of`); every function is pure, so the
tests check each one on scripted episodes with known answers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from statistics import fmean
from typing import Any

from ..environment.tasks import META_TOOLS

INVALID_CALL_TYPES = frozenset({"invalid_arguments", "unknown_tool"})
Record = dict[str, Any]


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return fmean(values) if values else None


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return num / den


# -- 1. completion --------------------------------------------------------------------------


def completion_rate(records: list[Record]) -> float | None:
    """C = successful episodes / episodes."""
    return _mean(float(r["success"]) for r in records)


def pass_hat_k(records: list[Record], k: int) -> float | None:
    """pass^k (tau-bench): mean over tasks of C(c, k) / C(n, k), n trials of which c succeeded;
    the chance that k trials drawn without replacement all succeed."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        by_task[r["task_id"]].append(bool(r["success"]))
    scores = [math.comb(sum(v), k) / math.comb(len(v), k) for v in by_task.values() if len(v) >= k]
    return _mean(scores)


# -- 2. component utilisation efficiency ---------------------------------------------------


def episode_efficiency(r: Record) -> dict[str, float | None]:
    """Per episode: whether the first call is the expert plan's first component, call and cost
    ratios against the expert plan, wrong-component, redundant and valid call shares."""
    calls = r["calls"]
    n = len(calls)
    expert = {s for s in r["expert_components"]} | {"recall_memory"}
    seen_ok: set[str] = set()
    redundant = wrong = invalid = 0
    for c in calls:
        key = c["name"] + "|" + _canon(c["arguments"])
        if key in seen_ok:
            redundant += 1
        if c["ok"]:
            seen_ok.add(key)
        if c["name"] not in expert and c["name"] not in META_TOOLS:
            wrong += 1
        if c.get("error_type") in INVALID_CALL_TYPES:
            invalid += 1
    attempts = n + len(r.get("parse_errors", []))
    expert_first = r.get("expert_first")
    return {
        "first_component": float(bool(calls) and calls[0]["name"] == expert_first)
        if expert_first
        else None,
        "call_ratio": _ratio(float(n), r["expert_calls"]),
        "cost_ratio": _ratio(r["cost_usd"], r["expert_cost_usd"]),
        "wrong_component_rate": wrong / n if n else None,
        "redundant_call_rate": redundant / n if n else None,
        "validity": (n - invalid) / attempts if attempts else None,
    }


def _canon(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def efficiency(records: list[Record]) -> dict[str, float | None]:
    """Means of the per-episode figures (ratios over successful episodes only: a failed episode
    has no comparable cost); validity pools every call and unparseable turn."""
    per = [(r, episode_efficiency(r)) for r in records]
    ok = [e for r, e in per if r["success"]]
    calls = sum(len(r["calls"]) for r in records)
    attempts = calls + sum(len(r.get("parse_errors", [])) for r in records)
    invalid = sum(
        1 for r in records for c in r["calls"] if c.get("error_type") in INVALID_CALL_TYPES
    )
    return {
        "first_component": _mean(
            e["first_component"] for _, e in per if e["first_component"] is not None
        ),
        "call_ratio": _mean(e["call_ratio"] for e in ok if e["call_ratio"] is not None),
        "cost_ratio": _mean(e["cost_ratio"] for e in ok if e["cost_ratio"] is not None),
        "wrong_component_rate": _mean(
            e["wrong_component_rate"] for _, e in per if e["wrong_component_rate"] is not None
        ),
        "redundant_call_rate": _mean(
            e["redundant_call_rate"] for _, e in per if e["redundant_call_rate"] is not None
        ),
        "validity": (calls - invalid) / attempts if attempts else None,
    }


# -- 3. adaptive learning speed ------------------------------------------------------------


def learning_speed(with_memory: list[Record], without: list[Record]) -> dict[str, float | None]:
    """Over one family's task sequence (same order, same seeds): ALS = mean_i(s_i^mem) -
    mean_i(s_i^none); steps saved = mean over tasks both solved of (steps^none - steps^mem)."""
    base = {r["task_id"]: r for r in without}
    pairs = [(r, base[r["task_id"]]) for r in with_memory if r["task_id"] in base]
    if not pairs:
        return {"als": None, "steps_saved": None, "sequence": 0}
    both = [(m, n) for m, n in pairs if m["success"] and n["success"]]
    return {
        "als": fmean(float(m["success"]) - float(n["success"]) for m, n in pairs),
        "steps_saved": _mean(n["steps"] - m["steps"] for m, n in both),
        "sequence": len(pairs),
    }


# -- 4. transfer ------------------------------------------------------------------------------


def transfer(records: list[Record]) -> dict[str, float | None]:
    """T_L = C(level L) / C(level 1); T_heldout = C(tasks needing a component held out of all
    training data) / C(level 1)."""
    by_level = {lv: [r for r in records if r["level"] == lv] for lv in (1, 2, 3)}
    base = completion_rate(by_level[1]) if by_level[1] else None
    held = [r for r in records if r.get("heldout_component")]
    return {
        "l2_vs_l1": _ratio(completion_rate(by_level[2]) if by_level[2] else None, base),
        "l3_vs_l1": _ratio(completion_rate(by_level[3]) if by_level[3] else None, base),
        "heldout_vs_l1": _ratio(completion_rate(held) if held else None, base),
    }


# -- 5. self-correction -------------------------------------------------------------------------


def fault_outcome(r: Record) -> dict[str, bool] | None:
    """For an episode with an injected fault: surfaced (the call at the fault's step failed, so
    the policy saw it), detected (the policy acted on it: called a tool again instead of
    answering) and recovered (a later call with the same arguments succeeded)."""
    fault = r.get("fault")
    if not fault:
        return None
    calls = r["calls"]
    i = fault["step"] - 1
    if i >= len(calls):
        return {"surfaced": False, "detected": False, "recovered": False}
    hit = calls[i]
    if hit["ok"] or "(injected)" not in str(hit.get("error") or ""):
        return {"surfaced": False, "detected": False, "recovered": False}
    later = calls[i + 1 :]
    recovered = any(c["ok"] and c["arguments"] == hit["arguments"] for c in later)
    return {"surfaced": True, "detected": bool(later), "recovered": recovered}


def self_correction(records: list[Record]) -> dict[str, float | None]:
    """SC = recovered / surfaced injected faults; detection = detected / surfaced; absorbed =
    injected faults the component's own retries or fallback hid from the policy / injected."""
    outs = [o for o in (fault_outcome(r) for r in records) if o is not None]
    surfaced = [o for o in outs if o["surfaced"]]
    return {
        "self_correction": _mean(float(o["recovered"]) for o in surfaced),
        "detection": _mean(float(o["detected"]) for o in surfaced),
        "absorbed": _mean(float(not o["surfaced"]) for o in outs),
        "faults": float(len(outs)),
    }


# -- 6. constraint adherence ---------------------------------------------------------------------


def constraint_adherence(records: list[Record]) -> float | None:
    """CA = episodes that broke no rule of the constitution / episodes."""
    return _mean(float(not r["broken_rules"]) for r in records)


# -- L3: dynamic component creation ---------------------------------------------------------------


def creation_score(records: list[Record]) -> float | None:
    """Over level-3 tasks with a capability gap: share whose episode created a component that
    passed the environment's validation, has the missing capability, and completed the task."""
    gap = [r for r in records if r.get("gap_capability")]
    return _mean(float(bool(r["created_gap_component"]) and bool(r["success"])) for r in gap)


# -- all together -----------------------------------------------------------------------------


def summary(records: list[Record], trials: int) -> dict[str, Any]:
    """Every metric over `records` (one level, or all of them)."""
    main = [r for r in records if not r.get("memory")]
    out: dict[str, Any] = {"episodes": len(main), "completion": completion_rate(main)}
    for k in range(1, trials + 1):
        out[f"pass^{k}"] = pass_hat_k(main, k)
    out.update(efficiency(main))
    out.update(self_correction(main))
    out["constraint_adherence"] = constraint_adherence(main)
    out["creation"] = creation_score(main)
    changed = [r for r in main if r.get("change")]
    out["change_completion"] = completion_rate(changed) if changed else None
    mem = [r for r in records if r.get("memory")]
    base = [r for r in main if r.get("trial") == 0]
    out.update(learning_speed(mem, base))
    return out
