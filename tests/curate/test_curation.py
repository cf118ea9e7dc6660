"""Curation's core (no Spark): planted exact and near duplicates are found at measured precision
and recall, a second batch is checked against the index of the first, a cluster never spans
splits, evaluation tasks planted in examples are removed, and bad input is counted, not fatal."""

from __future__ import annotations

import copy
import random
import re
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelake.jobs.curate.decontaminate import ContaminationIndex, evaluation_prompts, words
from tracelake.jobs.curate.dedup import CurateConfig, History, curate_batch
from tracelake.jobs.curate.examples import (
    cluster_rows,
    history_of,
    index_rows,
    index_scheme,
    rejected_rows,
)
from tracelake.jobs.curate.text import content_hash, normalise_for_hash, trajectory
from tracelake.jobs.gold.assemble import RunFacts, assemble
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.curation import CONTAMINATED, DUPLICATE_EXACT, DUPLICATE_NEAR, KEPT

SIM_SEED = 20260105
CONFIG = CurateConfig()


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    out = [assemble(run, RunFacts()).example for run in generate_runs(SIM_SEED, 300)]
    return [e for e in out if e is not None]


@pytest.fixture(scope="module")
def eval_index() -> ContaminationIndex:
    return ContaminationIndex.build(evaluation_prompts(), 8)


def _empty_history() -> History:
    return History(
        signatures=np.zeros((0, CONFIG.minhash.num_hashes), dtype=np.uint32),
        band_keys=np.zeros((0, CONFIG.minhash.bands), dtype=np.uint64),
    )


def _renamed(example: dict, tag: str) -> dict:
    """A copy under new ids: what a re-run of the same workflow looks like."""
    out = copy.deepcopy(example)
    out["example_id"] = f"{tag}-{example['example_id']}"
    out["run_id"] = f"{tag}-{example['run_id']}"
    return out


_UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_STAMPS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


def exact_copy(example: dict, tag: str) -> dict:
    """Same content up to ids, timestamps, case and spacing (all normalised away)."""
    out = _renamed(example, tag)
    stamp = f"2031-0{random.Random(tag).randint(1, 9)}-11T10:00:00Z"
    for m in out["messages"]:
        for key in ("content", "reasoning"):
            if m.get(key):
                text = _UUIDS.sub(lambda _: str(uuid.uuid5(uuid.NAMESPACE_URL, tag)), m[key])
                m[key] = _STAMPS.sub(stamp, text).replace(" ", "  ").upper()
    return out


def near_copy(example: dict, tag: str, rng: random.Random, share: float = 0.03) -> dict:
    """Content with about `share` of the observation words replaced."""
    out = _renamed(example, tag)
    for m in out["messages"]:
        if m["role"] == "tool" and m["content"]:
            tokens = m["content"].split(" ")
            for i in range(len(tokens)):
                if rng.random() < share:
                    tokens[i] = rng.choice(["alpha", "beta", "gamma", "delta"])
            m["content"] = " ".join(tokens)
    return out


def _shingles(text: str, n: int = 5) -> set[str]:
    # Words as the stage defines them: runs of ASCII letters and digits (the underscore
    # separates), lower case, digit runs folded to 0.
    tokens = re.sub(r"[0-9]+", "0", re.sub(r"[^a-z0-9]+", " ", text.lower())).split()
    return {" ".join(tokens[i : i + n]) for i in range(max(len(tokens) - n + 1, 1))}


def true_jaccard(a: dict, b: dict) -> float:
    sa, sb = _shingles(trajectory(a).text), _shingles(trajectory(b).text)
    return len(sa & sb) / len(sa | sb)


def _rep(verdicts) -> dict[str, str]:
    """example id -> its cluster's representative (itself when kept)."""
    return {v.example_id: (v.cluster_id if v.cluster_id else v.example_id) for v in verdicts}


# -- the exact hash ----------------------------------------------------------------------------


def test_the_exact_hash_ignores_ids_timestamps_and_placeholder_tags():
    a = (
        "run run-8f3a9c2d1e at 2026-04-01T08:00:00Z id 3f2a6b1c-0d4e-4f5a-9b8c-7d6e5f4a3b2c "
        "<EMAIL:address:ab12cd>"
    )
    b = (
        "Run run-77aa00bb11 at 2026-05-09T23:59:59.123Z id 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b "
        "<EMAIL:address:zz99>"
    )
    assert normalise_for_hash(a) == normalise_for_hash(b)
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(a.replace("at", "after"))


# -- planted duplicates: precision and recall ----------------------------------------------------


def test_planted_exact_and_near_duplicates_are_found(examples, eval_index):
    rng = random.Random(7)
    base = examples
    exact_origins = rng.sample(base, 30)  # 10% exact copies
    near_origins = rng.sample(base, 30)  # 10% near copies
    planted = [exact_copy(e, f"x{i}") for i, e in enumerate(exact_origins)]
    planted += [near_copy(e, f"n{i}", rng) for i, e in enumerate(near_origins)]
    result = curate_batch(base + planted, _empty_history(), CONFIG, eval_index)
    rep = _rep(result.verdicts)
    by_id = {v.example_id: v for v in result.verdicts}

    exact_found = sum(
        rep[c["example_id"]] == rep[o["example_id"]]
        for c, o in zip(planted[:30], exact_origins, strict=False)
    )
    near_found = sum(
        rep[c["example_id"]] == rep[o["example_id"]]
        for c, o in zip(planted[30:], near_origins, strict=False)
    )
    # every exact copy is an exact duplicate (one side of each pair dropped by the exact rule)
    assert exact_found == 30
    for c, o in zip(planted[:30], exact_origins, strict=False):
        pair = {by_id[c["example_id"]].verdict, by_id[o["example_id"]].verdict}
        assert DUPLICATE_EXACT in pair or pair == {DUPLICATE_NEAR}, pair
    # near copies at ~3% words edited (Jaccard ~0.85): recall at least 0.9
    assert near_found / 30 >= 0.9

    # precision: the pairs the stage merged (member -> representative) are true near duplicates
    # by exact shingle Jaccard (>= the threshold, 0.6), computed here independently of the stage
    rows = {e["example_id"]: e for e in base + planted}
    merged = [v for v in result.verdicts if v.verdict in (DUPLICATE_EXACT, DUPLICATE_NEAR)]
    assert merged
    true_pairs = sum(
        true_jaccard(rows[v.example_id], rows[v.representative]) >= CONFIG.near_threshold
        for v in merged
    )
    assert true_pairs / len(merged) >= 0.95
    assert result.counts["by_verdict"][KEPT] + len(merged) == len(base) + len(planted)


def test_an_exact_copy_of_a_near_duplicate_joins_its_cluster_by_the_exact_rule(examples):
    rng = random.Random(3)
    original = examples[0]
    near = near_copy(original, "n", rng, share=0.05)
    again = exact_copy(near, "x")  # sorts after `near`: judged after it
    result = curate_batch([original, near, again], _empty_history(), CONFIG, None)
    by_id = {v.example_id: v for v in result.verdicts}
    assert by_id[near["example_id"]].verdict == DUPLICATE_NEAR
    copy_verdict = by_id[again["example_id"]]
    # Not a near match against the original (its ids and case differ): the same content as the
    # near duplicate, so the same cluster and representative.
    assert (copy_verdict.verdict, copy_verdict.rule) == (DUPLICATE_EXACT, "exact")
    assert copy_verdict.cluster_id == by_id[near["example_id"]].cluster_id
    assert copy_verdict.representative == original["example_id"]


def test_unrelated_examples_are_not_merged(examples):
    """Pairs the stage keeps apart are really different: no kept pair above the threshold by
    exact Jaccard among a sample (the miss rate of LSH at this geometry is small)."""
    result = curate_batch(examples, _empty_history(), CONFIG, None)
    kept_ids = {v.example_id for v in result.verdicts if v.verdict == KEPT}
    rows = [e for e in examples if e["example_id"] in kept_ids]
    rng = random.Random(3)
    sample = [rng.sample(rows, 2) for _ in range(300)]
    missed = sum(true_jaccard(a, b) >= 0.9 for a, b in sample)
    assert missed == 0


# -- the index: a second batch against the first ----------------------------------------------


def test_a_second_batch_finds_duplicates_of_the_first_through_the_index(examples):
    rng = random.Random(11)
    first = curate_batch(examples, _empty_history(), CONFIG, None)
    # The index as gold.dedup_index holds it, and read back the way the job reads it.
    table = index_rows(first.verdicts, batch_version=3, scheme=index_scheme(CONFIG))
    history = history_of(table, set(), CONFIG)
    assert len(history.example_ids) == first.counts["by_verdict"][KEPT]

    kept = [e for e in examples if e["example_id"] in set(history.example_ids)]
    origins = rng.sample(kept, 20)
    second_rows = [exact_copy(e, f"b2x{i}") for i, e in enumerate(origins[:10])]
    second_rows += [near_copy(e, f"b2n{i}", rng) for i, e in enumerate(origins[10:])]
    fresh = [_renamed(e, "new") for e in rng.sample(kept, 5)]
    for i, e in enumerate(fresh):  # genuinely new content
        e["goal"] = f"Plant {i} new crops " * 12
        e["messages"] = [
            {"role": "user", "content": f"{i} " + " ".join(uuid.uuid4().hex[:6] for _ in range(60))}
        ]
    second = curate_batch(second_rows + fresh, history, CONFIG, None)
    by_id = {v.example_id: v for v in second.verdicts}
    for row, origin in zip(second_rows, origins, strict=False):
        v = by_id[row["example_id"]]
        assert v.verdict in (DUPLICATE_EXACT, DUPLICATE_NEAR), (v.verdict, v.detail)
        assert v.representative == origin["example_id"]
    assert all(by_id[e["example_id"]].verdict == KEPT for e in fresh)
    assert sum(by_id[r["example_id"]].verdict == DUPLICATE_EXACT for r in second_rows[:10]) == 10


def test_a_cluster_never_spans_splits(examples):
    """A copy assigned another split is dropped into the representative's cluster: the only row
    of the cluster that reaches export is the representative, so its split is the cluster's."""
    origin = next(e for e in examples if e["split"] == "train")
    copy_in_test = exact_copy(origin, "split")
    copy_in_test["split"] = "test"
    copy_in_test["synthetic"] = True  # ordered after the origin: the origin is kept
    result = curate_batch([origin, copy_in_test], _empty_history(), CONFIG, None)
    by_id = {v.example_id: v for v in result.verdicts}
    assert by_id[origin["example_id"]].verdict == KEPT
    assert by_id[copy_in_test["example_id"]].verdict == DUPLICATE_EXACT
    clusters = cluster_rows(result.verdicts, _empty_history(), 1).to_pylist()
    assert clusters == [
        {
            "cluster_row_id": clusters[0]["cluster_row_id"],
            "cluster_id": origin["example_id"],
            "representative": origin["example_id"],
            "representative_run_id": origin["run_id"],
            "split": "train",
            "members": [copy_in_test["example_id"]],
            "rules": [DUPLICATE_EXACT],
            "batch_version": 1,
        }
    ]
    rejected = rejected_rows(result.verdicts, "{}", set()).to_pylist()
    assert [(r["run_id"], r["stage"], r["reason_code"]) for r in rejected] == [
        (copy_in_test["run_id"], "curate", DUPLICATE_EXACT)
    ]
    assert origin["example_id"] in rejected[0]["reason"]  # the cluster id


# -- decontamination ---------------------------------------------------------------------------


def _with_goal(example: dict, goal: str, tag: str) -> dict:
    out = _renamed(example, tag)
    out["goal"] = goal
    for m in out["messages"]:
        if m["role"] == "user":
            m["content"] = f"Goal: {goal}"
    return out


def _lightly_edited(goal: str, rng: random.Random) -> str:
    tokens = goal.split()
    i = rng.randrange(len(tokens))
    tokens[i] = "urgently " + tokens[i]
    return " ".join(tokens)


def test_planted_evaluation_tasks_are_removed_and_clean_data_is_not(examples, eval_index):
    rng = random.Random(5)
    tasks = evaluation_prompts()
    verbatim_tasks = rng.sample(tasks, 30)
    edited_tasks = rng.sample(tasks, 30)
    hosts = rng.sample(examples, 60)
    verbatim = [
        _with_goal(h, t.goal, f"v{i}")
        for i, (h, t) in enumerate(zip(hosts, verbatim_tasks, strict=False))
    ]
    edited = [
        _with_goal(h, _lightly_edited(t.goal, rng), f"e{i}")
        for i, (h, t) in enumerate(zip(hosts[30:], edited_tasks, strict=False))
    ]
    result = curate_batch(examples + verbatim + edited, _empty_history(), CONFIG, eval_index)
    by_id = {v.example_id: v for v in result.verdicts}
    for row, task in zip(verbatim, verbatim_tasks, strict=False):
        v = by_id[row["example_id"]]
        assert v.verdict == CONTAMINATED and v.rule == "exact_goal", v
        assert task.task_id in v.task_ids
    edited_found = sum(
        by_id[r["example_id"]].verdict == CONTAMINATED
        and t.task_id in by_id[r["example_id"]].task_ids
        for r, t in zip(edited, edited_tasks, strict=False)
    )
    assert edited_found / len(edited) >= 0.9
    clean_removed = sum(by_id[e["example_id"]].verdict == CONTAMINATED for e in examples)
    assert clean_removed / len(examples) <= 0.01
    # reported per task
    assert sum(result.counts["contaminated_by_task"].values()) >= 30 + edited_found


def test_contamination_ngrams_compare_words_not_punctuation():
    index = ContaminationIndex.build(evaluation_prompts(), 8)
    task = evaluation_prompts()[0]
    shouted = task.goal.upper().replace(" ", "  ") + "!!"
    assert index.match(shouted, shouted) == ("exact_goal", [task.task_id])
    assert words("A/b-c.md") == ["a", "b", "c", "md"]
    assert index.match("Tidy my inbox", "Tidy my inbox please, thanks") is None


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_counted_and_fails_no_other_row(examples):
    good = examples[:5]
    base = examples[5]
    blob = _renamed(base, "blob")
    blob["messages"] = [*blob["messages"], {"role": "tool", "content": "QUJD" * 200}]
    control = _renamed(base, "ctl")
    control["messages"] = [{"role": "user", "content": "read \x00\x01 file " * 10}]
    surrogate = _renamed(base, "sur")
    surrogate["goal"] = "broken \ud800 text " * 3
    raw = _renamed(base, "raw")
    raw["goal"] = b"\xff\xfe not utf-8 goal"
    huge = _renamed(base, "huge")
    huge["messages"] = [{"role": "tool", "content": "word " * 100_000}]
    empty = _renamed(base, "empty")
    empty["goal"], empty["messages"] = "", None
    one_step = _renamed(base, "one")
    one_step["steps"] = 1
    broken = _renamed(base, "broken")
    broken["messages"] = 42  # not a list: reading it raises
    rows = [*good, blob, control, surrogate, raw, huge, empty, one_step, broken]

    result = curate_batch(rows, _empty_history(), CONFIG, None)
    by_id = {v.example_id: v for v in result.verdicts}
    assert len(result.verdicts) == len(rows)
    assert by_id[broken["example_id"]].verdict == "curation_error"
    assert all(by_id[e["example_id"]].verdict == KEPT for e in good)
    bad = result.counts["bad_input"]
    assert bad["binary_blob"] >= 1 and bad["control_chars"] >= 1 and bad["truncated"] >= 1
    assert bad["invalid_utf8"] >= 2 and bad["empty_text"] >= 1 and bad["one_step"] >= 1
    assert result.counts["near_check_skipped"]["empty_text"] >= 1
    assert "truncated" in by_id[huge["example_id"]].flags
    # the index rows of every verdict are writable (valid UTF-8, the table's schema)
    assert index_rows(result.verdicts, 1, index_scheme(CONFIG)).num_rows == len(rows)


def test_a_configured_benchmark_file_is_part_of_the_task_set(tmp_path):
    from tracelake.jobs.errors import ConfigError

    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        '{"id": "B-1", "prompt": "Translate the quarterly sales memo into French for Lyon"}\n\n'
        '{"task_id": "B-2", "goal": "Book the cheapest train from Oslo to Bergen next Tuesday"}\n'
    )
    prompts = evaluation_prompts([str(bench)])
    assert {"B-1", "B-2"} <= {p.task_id for p in prompts}
    index = ContaminationIndex.build(prompts, 8)
    hit = index.match(
        "Plan a trip", "first book the cheapest train from Oslo to Bergen next Tuesday please"
    )
    assert hit == ("ngram", ["B-2"])
    bench.write_text("not json\n")
    with pytest.raises(ConfigError, match=r"bench\.jsonl:1"):
        evaluation_prompts([str(bench)])
    with pytest.raises(ConfigError, match="cannot read"):
        evaluation_prompts([str(tmp_path / "missing.jsonl")])


# -- the exact hash over a batch in Arrow ---------------------------------------------------------

# The rules as plain Python, one pass each: the Arrow/RE2 path must give the same text. ASCII
# classes and word boundaries, as RE2 has them.
_REFERENCE_RULES = (
    (r"<([A-Z_]+):([a-z_]+):[0-9A-Za-z_-]+>", r"<\1:\2>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<id>"),
    (r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
     r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?\b", "<ts>"),
    (r"\b(run|trace|span|event|evt|req|sess|session)[-_][0-9A-Za-z]{6,}\b", r"\1-<id>"),
    (r"\b[0-9a-fA-F]{12,}\b", "<id>"),
)  # fmt: skip


def _reference_normalisation(text: str) -> str:
    for pattern, replacement in _REFERENCE_RULES:
        text = re.sub(pattern, replacement, text, flags=re.ASCII)
    return " ".join(text.split()).lower()


WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u205f\u3000"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list(WHITESPACE + "ab09-_:<>TZ.AFrun"))
        | st.characters(exclude_categories=("Cs",)),
        max_size=80,
    )
)
def test_the_batch_normalisation_equals_the_rules_applied_one_by_one(text):
    assert normalise_for_hash(text) == _reference_normalisation(text)


def test_a_batch_of_hashes_equals_hashing_one_by_one_and_survives_lone_surrogates():
    from tracelake.jobs.curate.text import content_hashes

    texts = [f"run run-{i:08x}ab at 2026-01-0{1 + i % 9} step {i % 7}\u3000done" for i in range(50)]
    texts += ["", "epoch 1733011200000 and deadbeef0042 vs word abcdefabcdefx"]
    batch = content_hashes(texts)
    assert batch == [content_hash(t) for t in texts]
    assert len(set(batch[:50])) == 7  # ids and dates fold; steps 0-6 differ
    assert normalise_for_hash(texts[-1]) == "epoch <id> and <id> vs word abcdefabcdefx"
    # Text that cannot be UTF-8 is hashed with a replacement character, not refused.
    assert content_hashes(["lone \ud800 surrogate"]) == content_hashes(["lone ? surrogate"])
