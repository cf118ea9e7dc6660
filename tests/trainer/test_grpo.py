"""The episode loop and GRPO against a deterministic stand-in of the environment."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from trainer_standin_env import Environment, make_training_tasks

from tracelake.trainer.episodes import expert_policy, run_episode
from tracelake.trainer.grpo import (
    GRPOOptions,
    episode_reward,
    group_advantages,
    policy_loss,
    run_grpo,
)
from tracelake.trainer.packing import concat
from tracelake.trainer.template import tokenize_messages


def test_expert_policy_succeeds_through_the_wire_format() -> None:
    task = make_training_tasks(1, seed=3)[0]
    episode = run_episode(expert_policy(task), Environment(task, seed=0), task, max_turns=4)
    assert episode.outcome.success and episode.outcome.steps == 1
    roles = [m["role"] for m in episode.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert episode.messages[3]["content"].startswith("policy ")


def test_unparseable_turn_ends_the_episode_with_its_reason() -> None:
    task = make_training_tasks(1, seed=3)[0]
    episode = run_episode(
        lambda m, t: "<tool_call>{broken", Environment(task, seed=0), task, max_turns=4
    )
    assert not episode.outcome.success and "unterminated" in episode.parse_errors[0]


def test_policy_gradient_moves_towards_the_better_episode(tiny_model, tokenizer) -> None:
    """One update with advantages (+1, -1) raises the better episode's log-probability
    relative to the worse one's."""
    import copy

    model = copy.deepcopy(tiny_model).train()
    task = make_training_tasks(1, seed=5)[0]
    good = run_episode(expert_policy(task), Environment(task, 0), task, 4)
    bad = run_episode(lambda m, t: "I do not know.", Environment(task, 0), task, 4)
    assert episode_reward(good, GRPOOptions().reward_weights) > episode_reward(
        bad, GRPOOptions().reward_weights
    )
    adv = group_advantages([1.0, 0.0])
    assert adv[0] > 0 > adv[1]

    def logp(episode) -> float:
        row = concat([tokenize_messages(tokenizer, episode.messages, task.tools)])
        with torch.no_grad():
            logits = model(**row.model_inputs()).logits
        lp = torch.log_softmax(logits, -1).gather(-1, row.labels.clamp_min(0)[..., None])[..., 0]
        return float(lp[row.weights > 0].mean())

    before = logp(good) - logp(bad)
    for episode in (good, bad):
        episode.tools = task.tools
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    policy_loss(model, tokenizer, [good, bad], adv).backward()
    optimizer.step()
    assert logp(good) - logp(bad) > before


@pytest.mark.slow
def test_grpo_smoke_steps_and_checkpoint(tmp_path: Path) -> None:
    from trainer_fixture import sft_rows

    from tracelake.trainer.sft import corpus_text

    options = GRPOOptions(
        output_dir=str(tmp_path / "grpo"),
        steps=2,
        tasks_per_step=2,
        group_size=2,
        max_new_tokens=16,
        max_turns=2,
    )
    record = run_grpo(options, Environment, make_training_tasks, corpus_text(sft_rows(40, 1)))
    assert record.steps == 2 and record.reload_check["ok"]
    assert (tmp_path / "grpo" / "run_record.json").exists()
    assert all(v == v for v in record.eval.values())  # no NaN
    random.seed(0)
