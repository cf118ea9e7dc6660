"""Step-level near duplicates of the examples curation keeps (no Spark: rows in, marks out).

A step is one assistant turn that calls tools, with the observations answering it: its text is
the calls (tool name and arguments) and the observations, not the reasoning (a retry of the same
call often reasons differently; what repeats in the data is the call and what came back). Two
things are found:

  - repeated steps within one run: a step whose shingle set has an exact Jaccard of at least
    `step_near_threshold` with an earlier step of the same run (a loop, a retry that got the same
    answer). The texts are at hand and runs are short, so every step is compared with up to
    `step_max_compared` earlier steps exactly: no estimate, no LSH miss;
  - common steps across the batch: MinHash-LSH over every step of the batch (the trajectory
    level's bands and rows, `step_shingle_words`-word shingles since steps are short); a step is
    common when at least `step_common_examples` other examples have a step in one of its band
    buckets (the largest bucket over its bands: a lower bound on the examples sharing a bucket).

Examples are marked, not dropped: flags `repeated_steps` (some step repeats an earlier one) and
`mostly_common_steps` (at least `step_common_share` of its steps are common). What it does not
do: the step counts are per batch (an incremental run sees its new examples only; a `--full` run
sees all of gold.examples), no step is cut out of an example, and nothing is persisted per step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .minhash import MinHashConfig, MinHasher
from .text import _as_text, clean

REPEATED_STEPS = "repeated_steps"
MOSTLY_COMMON_STEPS = "mostly_common_steps"


@dataclass(frozen=True)
class StepConfig:
    minhash: MinHashConfig = field(default_factory=lambda: MinHashConfig(ngram=3))
    near_threshold: float = 0.6
    max_compared: int = 64
    common_examples: int = 20
    common_share: float = 0.8
    max_text_chars: int = 20_000


@dataclass
class StepMarks:
    """Per example (by id): the steps repeating an earlier one (step index -> the earlier step
    it repeats), the number of steps and how many are common; and the batch's counts."""

    repeats: dict[str, dict[int, int]]
    steps: dict[str, int]
    common: dict[str, int]
    flags: dict[str, list[str]]
    counts: dict[str, int]


def _calls(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    calls = message.get("tool_calls") or ()
    if isinstance(calls, str):  # some rows hold the calls as their JSON text
        try:
            calls = json.loads(calls)
        except ValueError:
            return [{"function": {"name": calls}}]
    return list(calls) if isinstance(calls, list | tuple) else []


def step_texts(row: Mapping[str, Any], max_chars: int = 20_000) -> list[str]:
    """The text of each step of a gold.examples row: calls, then the observations that follow."""
    flags: list[str] = []  # bad input is counted at the trajectory level already
    steps: list[list[str]] = []
    for message in row.get("messages") or ():
        role = message.get("role")
        calls = _calls(message) if role == "assistant" else []
        if calls:
            parts = []
            for call in calls:
                function = call.get("function") or {}
                parts.append(_as_text(function.get("name"), flags))
                parts.append(_as_text(function.get("arguments"), flags))
            steps.append(parts)
        elif role == "tool" and steps:
            steps[-1].append(_as_text(message.get("content"), flags))
    return [clean("\n".join(p for p in parts if p), flags, max_chars) for parts in steps]


def mark_steps(rows: Sequence[Mapping[str, Any]], config: StepConfig) -> StepMarks:
    """Repeated and common steps of `rows` (the examples the trajectory level kept)."""
    ids = [str(r["example_id"]) for r in rows]
    per_example = [step_texts(r, config.max_text_chars) for r in rows]
    owner = np.repeat(np.arange(len(rows)), [len(s) for s in per_example])
    flat = [t for steps in per_example for t in steps]
    repeats: dict[str, dict[int, int]] = {}
    common_of: dict[str, int] = {}
    flags: dict[str, list[str]] = {}
    if not flat:
        return StepMarks({}, dict.fromkeys(ids, 0), {}, {}, _counts(0, {}, {}, {}))
    hasher = MinHasher(config.minhash)
    sig, has, sets = hasher.signatures_and_shingles(flat)

    # Within a run: each step against the earlier ones, exactly (shingle sets, Python sets are
    # fastest for sets this small).
    start = 0
    for e, steps in enumerate(per_example):
        shingle_sets = [set(sets.get(start + k).tolist()) for k in range(len(steps))]
        for k in range(1, len(steps)):
            if not has[start + k]:
                continue
            for j in range(max(0, k - config.max_compared), k):
                a, b = shingle_sets[k], shingle_sets[j]
                union = len(a | b)
                if union and len(a & b) / union >= config.near_threshold:
                    repeats.setdefault(ids[e], {})[k] = j
                    break
        start += len(steps)

    # Across the batch: per band, the number of distinct examples in each step's bucket.
    keys = hasher.band_keys(sig)
    sharing = np.zeros(len(flat), dtype=np.int64)
    valid = np.flatnonzero(has)
    for b in range(keys.shape[1]):
        pairs = np.unique(
            np.stack([keys[valid, b], owner[valid].astype(np.uint64)], axis=1), axis=0
        )
        bucket_keys, examples_in_bucket = np.unique(pairs[:, 0], return_counts=True)
        where = np.searchsorted(bucket_keys, keys[valid, b])
        np.maximum.at(sharing, valid, examples_in_bucket[where])
    common = sharing - 1 >= config.common_examples  # other examples than the step's own
    common_counts = np.bincount(owner, weights=common, minlength=len(rows)).astype(np.int64)
    for e, steps in enumerate(per_example):
        marks = []
        if ids[e] in repeats:
            marks.append(REPEATED_STEPS)
        if steps:
            common_of[ids[e]] = int(common_counts[e])
            if common_counts[e] / len(steps) >= config.common_share:
                marks.append(MOSTLY_COMMON_STEPS)
        if marks:
            flags[ids[e]] = marks
    steps_of = {ids[e]: len(s) for e, s in enumerate(per_example)}
    return StepMarks(
        repeats, steps_of, common_of, flags, _counts(len(flat), repeats, common_of, flags)
    )


def _counts(
    steps: int,
    repeats: dict[str, dict[int, int]],
    common: dict[str, int],
    flags: dict[str, list[str]],
) -> dict[str, int]:
    return {
        "steps": steps,
        "repeated_steps": sum(len(r) for r in repeats.values()),
        "examples_with_repeated_steps": len(repeats),
        "common_steps": sum(common.values()),
        "examples_mostly_common_steps": sum(MOSTLY_COMMON_STEPS in f for f in flags.values()),
    }
