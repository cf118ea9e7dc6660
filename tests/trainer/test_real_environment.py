"""The trainer's episode loop against the real executable environment (not the stand-in): the
expert plan, spoken through the tool-call wire format, completes held-out tasks of every level,
and a policy that answers at once does not."""

from __future__ import annotations

import pytest

from tracelake.jobs.environment import Environment, load_tasks, make_training_tasks
from tracelake.trainer.episodes import expert_policy, run_episode


def _sample(level: int, n: int = 4):
    tasks = [t for t in load_tasks((level,))]
    return tasks[:: max(1, len(tasks) // n)][:n]


@pytest.mark.parametrize("level", [1, 2, 3])
def test_expert_plan_completes_held_out_tasks_through_the_wire_format(level):
    for task in _sample(level):
        episode = run_episode(
            expert_policy(task),
            Environment(task, seed=0, random_faults=False),
            task,
            task.max_steps + 2,
        )
        assert episode.parse_errors == []
        assert episode.outcome.success, (task.task_id, episode.messages[-3:])


def test_answering_at_once_fails_and_training_tasks_run_too():
    task = _sample(1, 1)[0]
    episode = run_episode(
        lambda m, t: "Done.", Environment(task, seed=0, random_faults=False), task, 4
    )
    assert not episode.outcome.success
    for task in make_training_tasks(3, seed=5):
        episode = run_episode(
            expert_policy(task),
            Environment(task, seed=1, random_faults=False),
            task,
            task.max_steps + 2,
        )
        assert episode.outcome.success, task.task_id
