"""Duplicates planted at known rates, with the truth recorded: ground truth for curation.

After each simulated run, with probability `exact_rate` an exact copy of it follows and with
probability `near_rate` a near copy (both count towards the requested number of runs). A copy
is the same run under a new run id (`<original>-dupx` / `-dupn`), new event ids and timestamps a
day later; a near copy also has `NEAR_SHARE` of the words of its tool observations replaced (at
least one, so it is never an exact copy). The truth is in the copy's `run_started` attributes:
`sim.duplicate_of` (the original's run id) and `sim.duplicate_kind` (`exact` or `near`), so a
test or a report can measure curation's precision and recall against it.

The simulator repeats goals by itself, so a plain run can also be a natural near duplicate of
another; only the planted pairs are known.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from .runs import Event

DUPLICATE_OF = "sim.duplicate_of"
DUPLICATE_KIND = "sim.duplicate_kind"
# Share of the observation words a near copy replaces: a retry whose tools answered a little
# differently (exact trajectory Jaccard ~0.85-0.95 on simulated runs, well inside what LSH finds).
NEAR_SHARE = 0.03
_WORD = re.compile(r"[A-Za-z]{3,}")
_LITERALS = {"true", "false", "null"}  # replacing these would break the observation's JSON
_REPLACEMENTS = ("alpha", "bravo", "delta", "kilo", "oscar", "tango", "zulu")


def plant_duplicates(
    runs: Iterator[list[Event]], total: int, seed: int, exact_rate: float, near_rate: float
) -> Iterator[list[Event]]:
    """`total` runs: those of `runs`, each followed by its planted copies."""
    if exact_rate < 0 or near_rate < 0 or exact_rate + near_rate > 1:
        raise ValueError("duplicate rates must be >= 0 and sum to at most 1")
    rng = random.Random(f"plant-{seed}")  # its own stream: planting leaves the runs unchanged
    emitted = 0
    for events in runs:
        if emitted >= total:
            return
        yield events
        emitted += 1
        draw = rng.random()
        kind = "exact" if draw < exact_rate else "near" if draw < exact_rate + near_rate else None
        if kind is not None and emitted < total:
            yield copy_run(events, kind, rng)
            emitted += 1


def copy_run(events: list[Event], kind: str, rng: random.Random) -> list[Event]:
    """A copy of one run's events under new ids (and, for `near`, edited observations)."""
    original = str(events[0]["run_id"])
    new_id = f"{original}-dup{kind[0]}"
    out = []
    for event in events:
        e = copy.deepcopy(event)
        e["run_id"] = new_id
        for key in ("event_id", "parent_event_id"):
            if e.get(key):
                e[key] = str(e[key]).replace(original, new_id, 1)
        if e.get("ts"):
            stamp = datetime.fromisoformat(str(e["ts"]).replace("Z", "+00:00")) + timedelta(days=1)
            e["ts"] = stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")
        out.append(e)
    out[0]["attributes"] = {
        **(out[0].get("attributes") or {}),
        DUPLICATE_OF: original,
        DUPLICATE_KIND: kind,
    }
    if kind == "near":
        _edit_observations(out, rng)
    return out


def _edit_observations(events: list[Event], rng: random.Random) -> None:
    spots = [
        (i, m.start(), m.end())
        for i, e in enumerate(events)
        if e.get("event_type") == "tool_result" and isinstance(e.get("output"), str)
        for m in _WORD.finditer(e["output"])
        if m.group(0).lower() not in _LITERALS
    ]
    if not spots:
        return
    chosen = rng.sample(spots, max(1, round(NEAR_SHARE * len(spots))))
    # Right to left within an event, so earlier offsets stay valid.
    for i, start, end in sorted(chosen, key=lambda s: (s[0], -s[1])):
        text = events[i]["output"]
        events[i]["output"] = text[:start] + rng.choice(_REPLACEMENTS) + text[end:]
