"""The benchmark's episodes: the oracle completes every held-out task of every level (with the
injected faults and the changed requirements), random stays under its documented threshold,
success conditions are real (mutation), faults are recovered or not as designed, determinism."""

from __future__ import annotations

import dataclasses

import pytest

from tracelake.jobs.environment import Environment, load_tasks
from tracelake.jobs.evaluation.policies import Oracle, RandomPolicy, Replay
from tracelake.jobs.evaluation.runner import EvalOptions, evaluate
from tracelake.jobs.evaluation.scenarios import Change, Fault, cases_for, fault_for, interrupt_for
from tracelake.trainer.episodes import run_episode

# docs/evaluation.md: "random completes under 5% of the held-out tasks".
RANDOM_THRESHOLD = 0.05


@pytest.fixture(scope="module")
def oracle_run():
    return evaluate(Oracle(), EvalOptions(chance_faults=False, memory_sequence=3))


def test_the_oracle_completes_every_task_of_every_level(oracle_run):
    main = [r for r in oracle_run.records if not r["memory"]]
    assert {r["level"] for r in main} == {1, 2, 3} and len(main) == 180
    failed = [(r["task_id"], r["unmet"], r["violations"]) for r in main if not r["success"]]
    assert failed == []
    # the scenarios are really there: faults surfaced and changed requirements met
    assert any(r["fault"] for r in main) and any(r["change"] for r in main)
    assert oracle_run.summary["all"]["self_correction"] == 1.0
    assert oracle_run.summary["all"]["change_completion"] == 1.0
    assert oracle_run.summary["L3"]["creation"] == 1.0


def test_random_stays_under_its_threshold_and_replay_between():
    random_run = evaluate(RandomPolicy(), EvalOptions(memory_sequence=0))
    assert random_run.summary["all"]["completion"] < RANDOM_THRESHOLD
    assert random_run.summary["all"]["validity"] > 0.9  # valid random calls
    replay = evaluate(Replay(), EvalOptions(memory_sequence=0, levels=(1,)))
    assert RANDOM_THRESHOLD < replay.summary["all"]["completion"] < 1.0


def test_deleting_any_required_step_of_an_expert_plan_fails_the_task():
    """Through the benchmark's own loop and oracle: every expert plan, every step removed."""
    tasks = load_tasks()
    for task in tasks:
        for i in range(len(task.expert_plan)):
            plan = task.expert_plan[:i] + task.expert_plan[i + 1 :]
            mutated = dataclasses.replace(task, expert_plan=plan)
            env = Environment(mutated, seed=0, random_faults=False)
            episode = run_episode(Oracle().start(mutated, 0), env, mutated, task.max_steps + 4)
            assert not episode.outcome.success, (task.task_id, i, task.expert_plan[i]["name"])


def _case(task_id: str):
    task = next(t for t in load_tasks() if t.task_id == task_id)
    return task


def test_a_fault_the_oracle_recovers_and_a_variant_it_cannot():
    task = _case("L1-web-001")
    fault = fault_for(task)
    assert fault is not None
    for persistent, expect in ((False, True), (True, False)):
        f = dataclasses.replace(fault, persistent=persistent)
        env = Environment(task, 0, inject_faults=f.injections(), random_faults=False)
        episode = run_episode(Oracle().start(task, 0), env, task, task.max_steps + 4)
        failed = [c for c in episode.calls if not c["ok"]]
        assert failed and "(injected)" in failed[0]["error"]
        assert episode.outcome.success is expect, episode.messages[-2:]
        if not expect:  # it gives up (and says so) or runs out of budget retrying
            assert episode.ended_by in ("answer", "budget")
            if episode.ended_by == "answer":
                assert "could not" in episode.messages[-1]["content"]


def test_a_requirement_change_mid_episode_is_judged_on_the_new_condition():
    task = next(t for t in load_tasks((3,)))
    new = "reports/changed.md"
    change = Change(
        2, {"file": new}, f"Change of requirements: save the final report as {new} instead of x."
    )
    ep = run_episode(
        Oracle().start(task, 0), Environment(task, 0, random_faults=False), task, 30,
        interrupt=interrupt_for(change),
    )  # fmt: skip
    assert ep.outcome.success and ep.interruptions == [change.message]
    assert any(c["arguments"].get("path") == new for c in ep.calls)
    follow = Oracle().start(task, 0)

    def deaf(messages, tools):  # never reads a user turn after the goal
        return follow(messages[:2] + [m for m in messages[2:] if m["role"] != "user"], tools)

    env = Environment(task, 0, random_faults=False)
    ignored = run_episode(deaf, env, task, 30, interrupt=interrupt_for(change))
    assert not ignored.outcome.success  # the old path no longer satisfies the task


def test_budget_ends_the_episode():
    task = dataclasses.replace(load_tasks((1,))[0], budget_usd=0.0001)
    ep = run_episode(Oracle().start(task, 0), Environment(task, 0, random_faults=False), task, 30)
    assert ep.ended_by == "budget" and not ep.outcome.success
    assert "over_budget" in ep.outcome.violations


def test_evaluation_is_deterministic_for_a_seed():
    options = EvalOptions(levels=(1, 3), tasks_per_level=8, trials=2, memory_sequence=2)
    for policy in (Oracle, RandomPolicy):
        a, b = evaluate(policy(), options), evaluate(policy(), options)
        assert a.records == b.records and a.summary == b.summary
    other = evaluate(RandomPolicy(), dataclasses.replace(options, seed=1))
    assert [r["calls"] for r in other.records] != [r["calls"] for r in a.records]


def test_scenarios_are_the_same_for_every_policy_and_reach_every_level():
    cases = cases_for(load_tasks())
    assert {c.task.level for c in cases if c.fault} == {1, 2, 3}
    assert all(c.task.level == 3 for c in cases if c.change)
    assert isinstance(cases[0].fault, Fault | None)


def test_the_framework_prompt_carries_component_documents_and_rules():
    from tracelake.jobs.evaluation import constitution
    from tracelake.jobs.evaluation.prompts import system_prompt

    task = load_tasks((2,))[0]
    text = system_prompt(task, "framework")
    for key in task.components:
        name, version = key.split("@")
        assert f'"name": "{name}"' in text and f'"version": "{version}"' in text
    assert constitution.rules()[0].text in text and "create_component" in text
    assert system_prompt(task, "goal") == "You are an agent. Use the tools, then answer."
    seen = []

    def spy(messages, tools):
        seen.append(messages[0]["content"])
        return "I could not complete the task."

    class Spy(Oracle):
        def start(self, task, seed):
            return spy

    run = evaluate(Spy(), EvalOptions(levels=(2,), tasks_per_level=1, prompt="framework",
                                      memory_sequence=0))  # fmt: skip
    assert seen == [text] and run.options["prompt"] == "framework"
