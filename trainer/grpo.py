"""The `grpo` recipe: online RL in the executable environment (group-relative advantages).

Per step, each task is played `group_size` times by the current policy (sampling); an episode's
reward combines the environment's completion, efficiency and constraint-adherence rewards with
the options' weights; advantages are the rewards standardised within each task's group. The
update is the on-policy policy gradient of GRPO (one update per batch of episodes, so the PPO
ratio is 1 and clipping does not bind): -sum(A * log p(assistant tokens)) / tokens, over exactly
the tokens the template supervises (the model's own turns, never observations).

The environment is injected (`EnvironmentFactory`, `TaskSource` of environment.py); the real one
is `tracelake.jobs.environment`.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from .checkpoint import save_checkpoint
from .environment import EnvironmentFactory, TaskSource
from .episodes import Episode, Policy, run_episode
from .errors import TrainerInputError
from .loss import token_logprobs
from .options import as_dict, config_hash
from .packing import concat
from .records import RunRecord, write_run_files
from .session import ModelOptions, model_device, prepare_model, prepare_tokenizer
from .template import EOT, prompt_ids, tokenize_messages

REWARD_KEYS = ("completion", "efficiency", "constraints")


@dataclass
class GRPOOptions:
    output_dir: str = "checkpoints/grpo"
    model: ModelOptions = field(default_factory=ModelOptions)
    steps: int = 4
    tasks_per_step: int = 2
    group_size: int = 4
    max_turns: int = 4
    max_new_tokens: int = 48
    temperature: float = 1.0
    lr: float = 1e-4
    levels: list[int] = field(default_factory=lambda: [1, 2, 3])
    reward_weights: dict[str, float] = field(
        default_factory=lambda: {"completion": 1.0, "efficiency": 0.2, "constraints": 0.5}
    )
    seed: int = 0
    reload_tolerance: float = 1e-6

    def validate(self) -> None:
        if self.group_size < 2:
            raise TrainerInputError("group_size must be >= 2 (advantages are relative in a group)")
        unknown = sorted(set(self.reward_weights) - set(REWARD_KEYS))
        if unknown:
            raise TrainerInputError(f"reward_weights {unknown}: known are {', '.join(REWARD_KEYS)}")


def episode_reward(episode: Episode, weights: dict[str, float]) -> float:
    """The environment's reward parts, weighted; derived from the outcome where a part is absent."""
    out = episode.outcome
    parts = dict(out.reward or {})
    parts.setdefault("completion", 1.0 if out.success else 0.0)
    parts.setdefault("efficiency", 1.0 / (1.0 + out.steps))
    parts.setdefault("constraints", -float(len(out.violations)))
    return sum(w * float(parts.get(k, 0.0)) for k, w in weights.items())


def group_advantages(rewards: list[float]) -> list[float]:
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards)
    return [(r - mean) / (std + 1e-6) for r in rewards]


def model_policy(model: Any, tokenizer: Any, max_new_tokens: int, temperature: float) -> Policy:
    eot = tokenizer.convert_tokens_to_ids(EOT)

    @torch.no_grad()
    def act(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        # On the model's device: a GPU-trained policy generates there.
        prompt = torch.tensor([prompt_ids(tokenizer, messages, tools)], device=model_device(model))
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=max_new_tokens,
            do_sample=True,
            temperature=temperature,
            eos_token_id=eot,
            pad_token_id=eot,
        )
        text = tokenizer.decode(out[0, prompt.shape[1] :], skip_special_tokens=False)
        return text.split(EOT)[0]

    return act


def policy_loss(
    model: Any, tokenizer: Any, episodes: list[Episode], advantages: list[float]
) -> torch.Tensor:
    """-sum(A * log p) over the model's own tokens of every episode, / their count."""
    total, tokens = torch.zeros((), device=model_device(model)), 0
    for episode, advantage in zip(episodes, advantages, strict=True):
        if advantage == 0:
            continue
        tools = list(getattr(episode, "tools", []) or [])
        example = tokenize_messages(tokenizer, episode.messages, tools)
        row = concat([example]).to(model_device(model))
        logits = model(**row.model_inputs()).logits
        mask = row.weights > 0
        total = total - advantage * token_logprobs(logits, row.labels)[mask].sum()
        tokens += int(mask.sum())
    return total / max(tokens, 1)


def run_grpo(
    options: GRPOOptions,
    make_env: EnvironmentFactory,
    tasks: TaskSource,
    corpus: list[str] | None = None,
) -> RunRecord:
    options.validate()
    rng = random.Random(options.seed)
    torch.manual_seed(options.seed)
    tokenizer = prepare_tokenizer(options.model, corpus or ["<tool_call> answer done"])
    model, groups = prepare_model(options.model, tokenizer, options.seed)
    optimizer = torch.optim.AdamW([{**g, "lr": options.lr} for g in groups], weight_decay=0.0)
    pool = tasks(options.tasks_per_step * options.steps, options.seed, options.levels)
    if not pool:
        raise TrainerInputError("the task source returned no training task")
    record = RunRecord(
        recipe="grpo",
        manifest="environment",
        dataset="environment",
        build_id="-",
        config_hash=config_hash(options),
        checkpoint_uri=str(Path(options.output_dir).resolve()),
        options=as_dict(options),
    )
    losses, mean_rewards, successes = [], [], 0
    policy = model_policy(model, tokenizer, options.max_new_tokens, options.temperature)
    for step in range(options.steps):
        batch = pool[step * options.tasks_per_step : (step + 1) * options.tasks_per_step]
        episodes, advantages, rewards = [], [], []
        model.eval()
        for task in batch:
            group = []
            for _ in range(options.group_size):
                env = make_env(task, seed=rng.randrange(2**31))
                episode = run_episode(policy, env, task, options.max_turns)
                episode.tools = env.tools  # type: ignore[attr-defined]
                group.append(episode)
            group_rewards = [episode_reward(e, options.reward_weights) for e in group]
            episodes += group
            rewards += group_rewards
            advantages += group_advantages(group_rewards)
            successes += sum(bool(e.outcome.success) for e in group)
        model.train()
        loss = policy_loss(model, tokenizer, episodes, advantages)
        if loss.requires_grad:
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
        mean_rewards.append(statistics.fmean(rewards))
        print(f"grpo step {step + 1}/{options.steps} reward {mean_rewards[-1]:.3f}", flush=True)
    record.steps = len(losses)
    record.summarise_losses(losses)
    record.eval = {
        "mean_reward_first": mean_rewards[0],
        "mean_reward_last": mean_rewards[-1],
        "success_rate": successes
        / max(1, options.steps * options.tasks_per_step * options.group_size),
    }
    probe = torch.tensor([tokenizer("probe <tool_call>")["input_ids"]])
    record.reload_check = save_checkpoint(
        model, tokenizer, options.output_dir, probe, options.reload_tolerance
    )
    record.status, record.ended_at = "succeeded", datetime.now(UTC).isoformat()
    write_run_files(record, options.output_dir)
    return record
