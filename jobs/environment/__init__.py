"""The executable component environment shared by expansion, training (GRPO) and evaluation.

from tracelake.jobs.environment import Environment, load_tasks
task = load_tasks([1])[0]
env = Environment(task, seed=0)
obs = env.call("SearchTool", {"query": "solid-state batteries"})
outcome = env.finish("report written")
"""

from __future__ import annotations

from .env import Environment, EpisodeOutcome, Observation
from .taskgen import make_training_tasks
from .tasks import Task, TaskError, load_tasks

__all__ = [
    "Environment",
    "EpisodeOutcome",
    "Observation",
    "Task",
    "TaskError",
    "load_tasks",
    "make_training_tasks",
]
