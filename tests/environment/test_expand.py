"""Scenario expansion: each transform on hand-made seeds, the replayer, lineage, determinism."""

from __future__ import annotations

import json
import random

import pytest

from tracelake.jobs.environment.holdout import holdout
from tracelake.jobs.expand.episode import execute, synthetic_run_id
from tracelake.jobs.expand.expander import ExpandConfigError, check_settings, expand_run
from tracelake.jobs.expand.lift import LiftError, lift
from tracelake.jobs.expand.replay import replay
from tracelake.jobs.expand.transforms import (
    SECRET_PLACEHOLDER,
    Candidate,
    constraint_violation,
    fault_injection,
    goal_paraphrase,
    slot_substitution,
    structural_variation,
    version_swap,
)
from tracelake.jobs.expand.verify import check_format, check_semantic, verify
from tracelake.jobs.settings import ExpandSettings

T0 = "2026-02-02T10:00:00.000000Z"


def seed_run(
    goal: str,
    *,
    versions=(("WebFetcherTool", "1.0"),),
    end="run_completed",
    memory=True,
    run_id="seed-1",
) -> list[dict]:
    """A hand-made seed: the events a real run of this goal would leave behind."""
    events = [{"run_id": run_id, "seq": 0, "ts": T0, "event_type": "run_started", "goal": goal}]
    if memory:
        events.append({"run_id": run_id, "seq": 1, "ts": T0, "event_type": "memory_consulted"})
    for name, version in versions:
        events.append(
            {
                "run_id": run_id,
                "seq": len(events),
                "ts": T0,
                "event_type": "tool_call",
                "component_name": name,
                "component_version": version,
            }
        )
    events.append({"run_id": run_id, "seq": len(events), "ts": T0, "event_type": end})
    return events


WEB_GOAL = "Research solid-state batteries on the web and write a summary to out/batt.md"


def base() -> Candidate:
    s = lift(seed_run(WEB_GOAL))
    return Candidate(s.run_id, s.family, s.level, s.fixed, s.variant)


def run(c: Candidate, index: int = 0):
    syn = synthetic_run_id(c, 0, index)
    return execute(c, syn, 7)


def calls(episode) -> list[tuple[str, dict]]:
    return [
        (e["action"], json.loads(e["input"]))
        for e in episode.events
        if e["event_type"] == "tool_call"
    ]


def test_lift_reads_family_slots_and_versions():
    s = lift(seed_run(WEB_GOAL))
    assert s.family == "web_research_summary" and s.level == 1
    assert s.fixed["topic"] == "solid-state batteries"
    assert s.fixed["file"] == "out/batt.md"
    assert s.fixed["fetcher"] == "WebFetcherTool@1.0"
    assert s.variant == {"recall": True}


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([], "no events"),
        (seed_run(WEB_GOAL, end="x-still-running"), "incomplete"),
        ([{"run_id": "r", "seq": 0, "ts": T0, "event_type": "run_completed"}], "no goal"),
        (seed_run("Make me a sandwich"), "no task family uses the components"),
        (
            seed_run(
                f"Research {holdout().values['topics'][0]} on the web and write a summary to a.md"
            ),
            "reserved for evaluation",
        ),
    ],
)
def test_bad_seeds_are_rejected_with_a_reason(events, reason):
    with pytest.raises(LiftError, match=reason):
        lift(events)
    if events:
        out = expand_run(events, ExpandSettings(variations_per_seed=3))
        assert out.accepted == [] and out.rejected[0]["check"] == "seed"


def test_base_candidate_reexecutes_and_verifies():
    ep = run(base())
    assert ep.outcome.success
    assert verify(ep.events) is None
    assert calls(ep)[0] == (
        "SearchTool",
        {"query": "solid-state batteries latest news", "site_kind": "news"},
    )
    assert ep.events[0]["attributes"]["synthetic"] == "true"


def test_slot_substitution_is_consistent_through_the_run():
    c = slot_substitution(base(), random.Random(1))
    assert c.chain[0]["slot"] == "topic"
    new = c.chain[0]["to"]
    ep = run(c)
    assert new in ep.task.goal and "solid-state batteries" not in ep.task.goal
    text = json.dumps([a for _, a in calls(ep)])
    assert "solid-state" not in text and new.split()[0].lower() in text.lower()
    assert verify(ep.events) is None


def test_structural_variations_change_the_steps():
    c = base()
    seen = {}
    for i in range(12):
        v = structural_variation(c, random.Random(i))
        seen[v.chain[0]["variation"]] = run(v)
    assert set(seen) == {"check_refine", "drop_optional", "fan_out", "add_translate"}
    names = {k: [n for n, _ in calls(ep)] for k, ep in seen.items()}
    assert "ReviewAgent" in names["check_refine"]
    assert "TranslationAgent" in names["add_translate"]
    assert (
        names["fan_out"].count("WebFetcherTool") + names["fan_out"].count("ArchiveFetcherTool") >= 2
    )
    memory = [e for e in seen["drop_optional"].events if e["event_type"] == "memory_consulted"]
    assert memory == []
    for ep in seen.values():
        assert ep.outcome.success and verify(ep.events) is None


def test_fault_injection_with_recovery_and_clean_failure():
    c = base()
    drawn = [fault_injection(c, random.Random(i)) for i in range(20)]
    recovered = next(d for d in drawn if d.fault["recover"])
    failed = next(d for d in drawn if not d.fault["recover"])
    ok = run(recovered)
    assert ok.outcome.success and ok.outcome.faults_injected >= 1
    assert any(e["event_type"] == "recovery" for e in ok.events)
    bad = run(failed)
    assert not bad.outcome.success and bad.events[-1]["event_type"] == "run_failed"
    assert verify(ok.events) is None and verify(bad.events) is None


def test_version_swap_changes_the_component_version_used():
    c = version_swap(base(), random.Random(0))
    name, new = c.chain[0]["component"], c.chain[0]["to"]
    ep = run(c)
    used = {
        f"{e['component_name']}@{e['component_version']}"
        for e in ep.events
        if e["event_type"] == "tool_call"
    }
    assert new in used or name not in {u.split("@")[0] for u in used}


@pytest.mark.parametrize("kind", ["over_budget", "write_outside_workspace", "secret_sent"])
def test_constraint_violations_are_caught(kind):
    c = base().applied("constraint_violation", {"violation": kind}, violation=kind)
    ep = run(c)
    assert not ep.outcome.success
    assert any(v.startswith(kind) for v in ep.outcome.violations)
    if kind == "secret_sent":
        assert SECRET_PLACEHOLDER in json.dumps([a for _, a in calls(ep)])
    assert verify(ep.events) is None
    assert constraint_violation(base(), random.Random(0)).violation


def test_unverified_final_drops_the_review():
    drawn = (structural_variation(base(), random.Random(i)) for i in range(50))
    c = next(d for d in drawn if d.chain[-1]["variation"] == "check_refine")
    v = c.applied(
        "constraint_violation", {"violation": "unverified_final"}, violation="unverified_final"
    )
    ep = run(v)
    assert "finalised_without_verification" in ep.outcome.violations


def test_goal_paraphrase_keeps_the_slots():
    c = goal_paraphrase(base(), random.Random(3))
    ep = run(c)
    assert ep.task.goal != run(base()).task.goal
    assert "solid-state batteries" in ep.task.goal
    assert check_semantic(ep.events) is None


def test_replayer_catches_one_corrupted_observation():
    ep = run(base())
    events = [dict(e) for e in ep.events]
    result = next(e for e in events if e["event_type"] == "tool_result" and e["output"])
    out = json.loads(result["output"])
    out["urls"] = [*out.get("urls", [])[:1], "https://evil.example/x"]
    result["output"] = json.dumps(out, sort_keys=True)
    assert replay(ep.events) is None
    reason = replay(events)
    assert reason and f"seq {result['seq']}" in reason and "output" in reason
    latency = [dict(e) for e in ep.events]
    next(e for e in latency if e["event_type"] == "tool_result")["latency_ms"] += 1.0
    assert "latency_ms" in replay(latency)


def test_format_check_catches_broken_events():
    ep = run(base())
    dup = [dict(e) for e in ep.events]
    dup[3]["event_id"] = dup[2]["event_id"]
    assert "duplicate" in check_format(dup)
    order = [dict(e) for e in ep.events]
    order[4]["seq"] = 9
    assert "seq" in check_format(order)
    orphan = [dict(e) for e in ep.events]
    orphan[5]["parent_event_id"] = "nope"
    assert "parent" in check_format(orphan)


def test_lineage_round_trip_and_determinism():
    settings = ExpandSettings(variations_per_seed=8, seed=4)
    seed = seed_run(WEB_GOAL)
    a, b = expand_run(seed, settings), expand_run(seed, settings)
    assert [r for _, r in a.accepted] == [r for _, r in b.accepted]
    assert [e for e, _ in a.accepted] == [e for e, _ in b.accepted]
    assert a.accepted, a.rejected
    for events, row in a.accepted:
        assert row["seed_run_id"] == "seed-1"
        assert {e["run_id"] for e in events} == {row["synthetic_run_id"]}
        assert events[0]["attributes"]["seed_run_id"] == "seed-1"
        chain = json.loads(row["transforms"])
        assert [s["transform"] for s in chain] == row["transform_names"]
        assert events[0]["attributes"]["transforms"] == ",".join(row["transform_names"])
    other = expand_run(seed, ExpandSettings(variations_per_seed=8, seed=5))
    assert [r["synthetic_run_id"] for _, r in other.accepted] != [
        r["synthetic_run_id"] for _, r in a.accepted
    ]


def test_settings_are_checked_before_work():
    with pytest.raises(ExpandConfigError, match="unknown transforms"):
        check_settings(ExpandSettings(transform_mix={"teleport": 1.0}))
    with pytest.raises(ExpandConfigError, match="llm_endpoint"):
        check_settings(ExpandSettings(llm_endpoint="http://localhost:1/v1"))
    check_settings(ExpandSettings())


def test_expansion_never_uses_the_holdout():
    reserved = {v for v in holdout().all_values() if "+" not in v}
    settings = ExpandSettings(variations_per_seed=20, seed=1)
    for goal in (
        WEB_GOAL,
        "Write a blog post about lithium recycling for investors",
        "Summarise German and French sources on edge AI accelerators into an English brief",
    ):
        for events, _ in expand_run(seed_run(goal), settings).accepted:
            text = json.dumps(events).lower()
            assert not [r for r in reserved if r.lower() in text]


def test_balance_over_levels_and_families_sets_each_seed_s_variations():
    from tracelake.jobs.expand.expander import variations_for
    from tracelake.jobs.simulate.runs import generate_runs

    settings = ExpandSettings(
        variations_per_seed=6,
        seed=1,
        level_weights={"1": 0.5, "3": 2.0},
        family_weights={"data_analysis": 0.0},
    )
    check_settings(settings)
    seen = set()
    for seed in generate_runs(11, 40):
        if seed[-1]["event_type"] not in ("run_completed", "run_failed"):
            continue
        try:
            lifted = lift(seed)
        except LiftError:
            continue
        expected = {1: 3, 2: 6, 3: 12}[lifted.level]
        if lifted.family == "data_analysis":
            expected = 0
        assert variations_for(lifted.level, lifted.family, settings) == expected
        out = expand_run(seed, settings)
        candidates = len(out.accepted) + len(out.rejected)
        assert candidates == expected, (lifted.level, lifted.family, candidates)
        seen.add((lifted.level, lifted.family == "data_analysis"))
    assert {(1, False), (1, True), (2, False)} <= seen
    with pytest.raises(ExpandConfigError, match="unknown levels"):
        check_settings(ExpandSettings(level_weights={"4": 1.0}))
    with pytest.raises(ExpandConfigError, match="unknown families"):
        check_settings(ExpandSettings(family_weights={"astrology": 1.0}))
    with pytest.raises(ExpandConfigError, match="must not be negative"):
        check_settings(ExpandSettings(level_weights={"2": -1.0}))
