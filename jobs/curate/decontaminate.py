"""Decontamination: the evaluation tasks' goals as word n-grams; an example whose goal or
trajectory shares one with a task, or whose goal is a task's goal, is contaminated.

The held-out tasks are never used to make training data by construction; this is the safety net
for a path that bypasses that (a real agent run on an evaluation task, a benchmark prompt pasted
into a run). Goals are templated, so the n-gram must be long enough that two goals sharing a
template but not its filled-in values do not match: docs/curation.md gives the measured removal
rate on clean data per n-gram size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

_NON_WORD = re.compile(r"[^\w]+")


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation dropped (a path's separators split it into words)."""
    return _NON_WORD.sub(" ", text.lower()).split()


def ngrams(tokens: list[str], n: int) -> Iterable[str]:
    """Every run of n words as one string; a text shorter than n is one n-gram of all of it."""
    if 0 < len(tokens) < n:
        yield " ".join(tokens)
        return
    for i in range(len(tokens) - n + 1):
        yield " ".join(tokens[i : i + n])


@dataclass(frozen=True)
class EvalPrompt:
    task_id: str
    goal: str


@dataclass
class ContaminationIndex:
    """The task set's n-grams (-> the tasks holding them) and normalised goals."""

    n: int
    by_ngram: dict[str, set[str]] = field(default_factory=dict)
    by_goal: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, prompts: Iterable[EvalPrompt], n: int) -> ContaminationIndex:
        index = cls(n)
        for prompt in prompts:
            tokens = words(prompt.goal)
            if not tokens:
                continue
            index.by_goal.setdefault(" ".join(tokens), set()).add(prompt.task_id)
            for gram in ngrams(tokens, n):
                index.by_ngram.setdefault(gram, set()).add(prompt.task_id)
        return index

    def __len__(self) -> int:
        return len(self.by_goal)

    def match(self, goal: str, text: str) -> tuple[str, list[str]] | None:
        """(rule, task ids) when the example is contaminated: `exact_goal` when its goal is a
        task's goal, `ngram` when its goal or trajectory shares an n-gram with a task."""
        goal_key = " ".join(words(goal))
        if goal_key in self.by_goal:
            return "exact_goal", sorted(self.by_goal[goal_key])
        tasks: set[str] = set()
        tokens = words(text)
        # A text shorter than n words is compared whole, like a short task goal.
        for gram in ngrams(tokens, self.n) if len(tokens) >= self.n else [" ".join(tokens)]:
            hit = self.by_ngram.get(gram)
            if hit:
                tasks |= hit
        return ("ngram", sorted(tasks)) if tasks else None


def evaluation_prompts(benchmark_files: Iterable[str] = ()) -> list[EvalPrompt]:
    """The held-out evaluation tasks (every level of the task set) and the prompts of any
    benchmark file configured in settings (`curate.benchmark_files`)."""
    from ..environment.tasks import load_tasks

    prompts = [EvalPrompt(t.task_id, t.goal) for t in load_tasks()]
    for name in benchmark_files:
        path = Path(name)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"curate.benchmark_files: cannot read {path}: {exc}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                task_id = str(record.get("task_id") or record.get("id") or f"{path.name}:{number}")
                goal = str(record.get("goal") or record.get("prompt") or "")
            except (ValueError, AttributeError):
                raise ConfigError(
                    f"curate.benchmark_files: {path}:{number} is not a JSON object with a "
                    "goal or prompt"
                ) from None
            if goal:
                prompts.append(EvalPrompt(task_id, goal))
    return prompts
