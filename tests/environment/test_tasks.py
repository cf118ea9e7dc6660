"""The held-out task set: size, expert plans, validation, and the holdout never leaking."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tracelake.jobs.environment import (
    Environment,
    TaskError,
    load_tasks,
    make_training_tasks,
)
from tracelake.jobs.environment.holdout import holdout
from tracelake.jobs.environment.taskgen import (
    holdout_pools,
    holdout_tasks,
    invented_pools,
    training_pools,
)
from tracelake.jobs.environment.tasks import TASKS_DIR, task_file
from tracelake.jobs.simulate import catalog
from tracelake.jobs.simulate.runs import generate_runs

TASKS = load_tasks()


def run_plan(task, plan, seed=0, random_faults=False, retries=0):
    env = Environment(task, seed, random_faults=random_faults)
    for step in plan:
        for _ in range(retries + 1):
            if env.call(step["name"], step["arguments"]).ok:
                break
    return env.finish("done")


def test_at_least_60_tasks_per_level_with_unique_ids_and_goals():
    for level in (1, 2, 3):
        assert sum(t.level == level for t in TASKS) >= 60
    assert len({t.task_id for t in TASKS}) == len(TASKS)
    assert len({t.goal for t in TASKS}) == len(TASKS)
    for t in TASKS:
        assert t.split == "holdout"
        assert all(tool["type"] == "function" for tool in t.tools)
        assert (t.level == 3) == (t.capability_gap is not None)


def test_every_expert_plan_succeeds():
    failures = {t.task_id: run_plan(t, t.expert_plan).unmet for t in TASKS}
    assert {k: v for k, v in failures.items() if v} == {}


def test_expert_plans_survive_random_faults_by_retrying():
    ok = sum(
        run_plan(t, t.expert_plan, seed=3, random_faults=True, retries=3).success for t in TASKS
    )
    assert ok >= 0.95 * len(TASKS)


def test_deleting_any_step_of_an_expert_plan_makes_it_fail():
    survivors = []
    for t in TASKS:
        for i in range(len(t.expert_plan)):
            plan = t.expert_plan[:i] + t.expert_plan[i + 1 :]
            if run_plan(t, plan).success:
                survivors.append((t.task_id, i, t.expert_plan[i]["name"]))
    assert survivors == []


def test_l3_tasks_need_the_component_they_lack():
    for t in (t for t in TASKS if t.level == 3):
        names = {tool["function"]["name"] for tool in t.tools}
        assert t.capability_gap["component"] not in names
        assert any(s["name"] == "create_component" for s in t.expert_plan)


def test_task_files_are_what_the_generator_makes():
    for level in (1, 2, 3):
        lines = task_file(level).read_text().splitlines()
        expected = [
            json.dumps(t.to_json(), sort_keys=True, ensure_ascii=False)
            for t in holdout_tasks(level)
        ]
        assert lines == expected, (
            f"level {level}: rerun python -m tracelake.jobs.environment.taskgen"
        )


def write_tasks(tmp_path: Path, record: dict) -> Path:
    out = tmp_path / "v9"
    out.mkdir()
    (out / "level1.jsonl").write_text(json.dumps(record) + "\n")
    return out


def base_record() -> dict:
    return json.loads(task_file(1).read_text().splitlines()[0])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"components": ["SearchTool@9.9"]}, "unknown component 'SearchTool@9.9'"),
        ({"success": {"file": "../x.md"}}, "outside the workspace"),
        ({"success": {"file": "x.md", "capability": "teleport"}}, "capability 'teleport'"),
        ({"success": {"file": "x.md", "source_languages": ["Klingon"]}}, "publishes in Klingon"),
        ({"success": {"file": "x.md", "kind": ["translation"]}}, "no component can translate"),
        ({"success": {"file": "x.md", "colour": "red"}}, "unknown key 'colour'"),
        ({"level": 7}, "level 7"),
    ],
)
def test_bad_task_files_are_rejected_with_path_and_reason(tmp_path, change, reason):
    record = {**base_record(), **change}
    directory = write_tasks(tmp_path, record)
    with pytest.raises(TaskError) as err:
        load_tasks([1], directory)
    message = str(err.value)
    assert f"{directory / 'level1.jsonl'}:1" in message
    assert reason in message


def test_broken_json_line_is_rejected_with_its_line(tmp_path):
    d = tmp_path / "v9"
    d.mkdir()
    (d / "level1.jsonl").write_text(json.dumps(base_record()) + "\n{not json\n")
    with pytest.raises(TaskError, match=r"level1.jsonl:2: not JSON"):
        load_tasks([1], d)


# -- the holdout never leaks ---------------------------------------------------------------


def holdout_words() -> set[str]:
    return set(holdout().all_values())


def test_simulator_and_training_pools_share_nothing_with_the_holdout():
    reserved = holdout_words()
    pools = training_pools()
    for key, pool in pools.values.items():
        values = {"+".join(v) if key == "language_pairs" else v for v in pool}
        assert not values & reserved, key
    templates = {t for ts in pools.templates.values() for t in ts}
    assert not templates & holdout().all_templates()
    gaps = {g.name for g in pools.gaps} | {n.component for n in catalog.NOVEL_NEEDS}
    assert not gaps & holdout().component_names
    assert not set(catalog.COMPONENTS) & holdout().component_names


def _contains_reserved(text: str, reserved: set[str]) -> list[str]:
    low = text.lower()
    return [r for r in reserved if "+" not in r and re.search(rf"\b{re.escape(r.lower())}\b", low)]


def test_training_tasks_never_use_the_holdout():
    reserved = holdout_words()
    tasks = make_training_tasks(90, seed=11)
    assert len(tasks) == 90 and {t.level for t in tasks} == {1, 2, 3}
    held = {t.goal for t in TASKS}
    for t in tasks:
        assert t.split == "train" and t.goal not in held
        assert _contains_reserved(t.goal, reserved) == [], t.goal
        assert not set(t.components) & {f"{c}@" for c in holdout().component_names}
        if t.capability_gap:
            assert t.capability_gap["component"] not in holdout().component_names
        assert run_plan(t, t.expert_plan).success
    assert make_training_tasks(90, seed=11) == tasks


def test_invented_values_are_new_and_never_the_holdout():
    """Tasks from invented pools: values mostly outside the catalogue (a model must copy them),
    none containing a held-out value, every expert plan working, deterministic."""
    reserved = holdout_words()
    pools = invented_pools(seed=4, size=120)
    catalogue = training_pools().values
    for key in ("topics", "datasets", "metrics", "audiences"):
        assert len(pools.values[key]) == 120
        assert len(set(pools.values[key]) - set(catalogue[key])) >= 110, key
    tasks = make_training_tasks(45, seed=2, pools=pools)
    assert {t.level for t in tasks} == {1, 2, 3}
    assert all(t.task_id.startswith("train-v2-L") for t in tasks)
    for t in tasks:
        assert _contains_reserved(t.goal, reserved) == [], t.goal
        assert run_plan(t, t.expert_plan).success
    assert make_training_tasks(45, seed=2, pools=invented_pools(seed=4, size=120)) == tasks
    with pytest.raises(ValueError, match="training pools"):
        make_training_tasks(3, seed=2, pools=holdout_pools())


def test_simulated_runs_never_use_the_holdout():
    reserved = holdout_words() | holdout().component_names
    for run in generate_runs(5, 300):
        goal = next(e["goal"] for e in run if e.get("goal"))
        assert _contains_reserved(goal, reserved) == [], goal
        assert not {e.get("component_name") for e in run} & holdout().component_names


def test_task_set_is_versioned():
    assert TASKS_DIR.name == "v1"
    assert {p.name for p in TASKS_DIR.iterdir()} == {f"level{n}.jsonl" for n in (1, 2, 3)}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_generated_training_tasks_all_have_a_working_expert_plan(seed):
    # seed 1 drew a latency above a created agent's timeout, and the exact world timed it out
    tasks = make_training_tasks(120, seed=seed)
    assert len(tasks) == 120
