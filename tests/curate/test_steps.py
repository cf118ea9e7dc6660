"""Step-level near duplicates: steps planted as exact and near repeats of an earlier step of the
same run are marked at measured precision and recall, unrelated steps are not, and steps shared
by many examples of a batch make those examples `mostly_common_steps`."""

from __future__ import annotations

import copy
import random
import re

import numpy as np
import pytest

from tracelake.jobs.curate.dedup import CurateConfig, History, curate_batch
from tracelake.jobs.curate.steps import (
    MOSTLY_COMMON_STEPS,
    REPEATED_STEPS,
    StepConfig,
    mark_steps,
    step_texts,
)
from tracelake.jobs.gold.assemble import RunFacts, assemble
from tracelake.jobs.simulate.runs import generate_runs

CONFIG = StepConfig()


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    out = [assemble(run, RunFacts()).example for run in generate_runs(20260107, 200)]
    return [e for e in out if e is not None and e["steps"] >= 2]


def _step_spans(messages: list[dict]) -> list[tuple[int, int]]:
    """[start, end) of each step in `messages`: an assistant turn with calls and its tool turns."""
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and m.get("tool_calls"):
            spans.append((i, i + 1))
        elif m["role"] == "tool" and spans and spans[-1][1] == i:
            spans[-1] = (spans[-1][0], i + 1)
    return spans


def _append_step(example: dict, messages: list[dict], rng: random.Random, near: bool) -> None:
    """Append `messages` (one step) at the end of the run; a near repeat has one word of its
    first observation replaced (a retry that got a slightly different answer; observations are
    compact JSON, so a word, not a space-separated token)."""
    added = copy.deepcopy(messages)
    if near:
        for m in added:
            words = list(re.finditer(r"[A-Za-z]{3,}", m.get("content") or ""))
            if m["role"] == "tool" and words:
                w = rng.choice(words)
                m["content"] = m["content"][: w.start()] + "changed" + m["content"][w.end() :]
                break
    example["messages"] = [*example["messages"], *added]
    example["steps"] += 1


def test_planted_repeated_steps_are_found_at_measured_precision_and_recall(examples):
    rng = random.Random(3)
    rows, planted, decoys = [], set(), set()
    for n, original in enumerate(examples):
        e = copy.deepcopy(original)
        spans = _step_spans(e["messages"])
        count = len(step_texts(e))
        assert count == len(spans)
        kind = n % 3
        if kind in (0, 1):  # an exact (0) or near (1) repeat of a random earlier step
            start, end = spans[rng.randrange(len(spans))]
            _append_step(e, e["messages"][start:end], rng, near=kind == 1)
            planted.add((e["example_id"], count))
        else:  # a decoy: a step of another run (most are unrelated)
            other = examples[(n + 7) % len(examples)]
            start, end = rng.choice(_step_spans(other["messages"]))
            _append_step(e, other["messages"][start:end], rng, near=False)
            decoys.add((e["example_id"], count))
        rows.append(e)

    marks = mark_steps(rows, CONFIG)
    found = {(eid, k) for eid, steps in marks.repeats.items() for k in steps}
    # Only the appended step is judged (the runs' own repeats were there before planting): a
    # planted one marked is a true positive; a decoy marked is a false positive unless it is the
    # same call (tool and arguments) as the step it was matched to, judged without the stage's
    # Jaccard.
    true_pos = found & planted
    false_pos = set()
    for eid, k in sorted(found & decoys):
        e = next(r for r in rows if r["example_id"] == eid)
        texts = step_texts(e)
        if texts[k].split("\n")[:2] != texts[marks.repeats[eid][k]].split("\n")[:2]:
            false_pos.add((eid, k))
    recall = len(true_pos) / len(planted)
    precision = len(true_pos) / (len(true_pos) + len(false_pos))
    assert recall >= 0.95, recall
    assert precision >= 0.95, (precision, sorted(false_pos))
    assert marks.counts["repeated_steps"] == len(found)
    assert marks.counts["examples_with_repeated_steps"] == len(marks.repeats)
    assert all(REPEATED_STEPS in marks.flags[eid] for eid in marks.repeats)


def test_steps_seen_in_many_examples_are_common(examples):
    """A boilerplate step appended to 30 runs is common in each; a run made only of it (and one
    retry) is mostly common steps; the runs' own steps stay uncommon."""
    config = StepConfig(common_examples=20, common_share=0.8)
    boiler = [
        {
            "role": "assistant",
            "tool_calls": [
                {"function": {"name": "ListFilesTool", "arguments": '{"path": "/workspace"}'}}
            ],
        },
        {"role": "tool", "content": '{"files": ["README.md", "main.py", "setup.cfg", "tests"]}'},
    ]
    rows = []
    for original in examples[:30]:
        e = copy.deepcopy(original)
        e["messages"] = [*e["messages"], *copy.deepcopy(boiler)]
        rows.append(e)
    only = copy.deepcopy(examples[30])
    only["example_id"] = "only-boilerplate"
    only["messages"] = [m for m in only["messages"] if m["role"] in ("system", "user")]
    only["messages"] += copy.deepcopy(boiler) + copy.deepcopy(boiler)
    rows.append(only)
    marks = mark_steps(rows, config)
    assert MOSTLY_COMMON_STEPS in marks.flags["only-boilerplate"]
    assert REPEATED_STEPS in marks.flags["only-boilerplate"]
    for e in rows[:30]:
        # the boilerplate step is common; the run's own steps are not
        assert marks.common[e["example_id"]] == 1, marks.common[e["example_id"]]
        assert MOSTLY_COMMON_STEPS not in marks.flags.get(e["example_id"], [])
    assert marks.counts["examples_mostly_common_steps"] == 1


def test_the_batch_counts_steps_and_flags_kept_examples(examples):
    e = copy.deepcopy(examples[0])
    start, end = _step_spans(e["messages"])[0]
    _append_step(e, e["messages"][start:end], random.Random(1), near=False)
    config = CurateConfig()
    history = History(
        signatures=np.zeros((0, config.minhash.num_hashes), dtype=np.uint32),
        band_keys=np.zeros((0, config.minhash.bands), dtype=np.uint64),
    )
    result = curate_batch([e, *examples[1:20]], history, config, None)
    by_id = {v.example_id: v for v in result.verdicts}
    assert REPEATED_STEPS in by_id[e["example_id"]].flags
    assert result.counts["steps"]["repeated_steps"] >= 1
    assert result.counts["steps"]["steps"] >= sum(x["steps"] for x in examples[1:20]) // 2
