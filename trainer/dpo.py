"""The `dpo` recipe: direct preference optimisation on the `dpo` export (prompt/chosen/rejected).

Each pair is one padding-free packed row (chosen then rejected, positions reset), so a pair costs
one forward pass and no padding. The reference model is the policy at the start; its sequence
log-probabilities are computed once, before training. Tool calls in chosen and rejected are
rendered with the same wire format as SFT.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .errors import TrainerInputError
from .loss import token_logprobs
from .options import as_dict, config_hash
from .packing import PackedBatch, concat
from .records import RunRecord
from .session import (
    Dist,
    ModelOptions,
    StepRunner,
    all_sum,
    init_distributed,
    model_device,
    open_export,
    prepare_model,
    prepare_tokenizer,
)
from .sft import corpus_text, finish_record, save_and_record
from .template import ExampleRejected, TokenizedExample, parse_tools, tokenize_within_limit


@dataclass
class DPOOptions:
    output_dir: str = "checkpoints/dpo"
    model: ModelOptions = field(default_factory=ModelOptions)
    steps: int = 20
    pairs_per_step: int = 4
    beta: float = 0.1
    max_length: int = 512
    seed: int = 0
    zero_stage: int = 2
    peak_tflops: float = 0.0
    reload_tolerance: float = 1e-6
    log_every: int = 10

    def validate(self) -> None:
        if self.beta <= 0 or self.steps < 1 or self.pairs_per_step < 1:
            raise TrainerInputError("beta must be > 0, steps and pairs_per_step >= 1")


@dataclass
class Pairs:
    rows: list[PackedBatch]  # one row per pair: [chosen, rejected]
    rejected: dict[str, int]
    truncated: int


def _prompt_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(m, weight=0.0) for m in messages]


def tokenize_pairs(tokenizer: Any, rows: list[dict[str, Any]], max_length: int) -> Pairs:
    packed, rejected, truncated = [], {}, 0
    for row in rows:
        tools = parse_tools(row.get("tools"))
        prompt = _prompt_only(list(row["prompt"]))
        try:
            sides = [
                tokenize_within_limit(tokenizer, prompt + list(row[s]), tools, max_length)
                for s in ("chosen", "rejected")
            ]
        except ExampleRejected as exc:
            key = "too_long" if "max_length" in str(exc) else "invalid"
            rejected[key] = rejected.get(key, 0) + 1
            continue
        # A pair cut at a turn boundary would compare unequal continuations: reject it.
        if any(s.dropped_turns for s in sides):
            truncated += 1
            rejected["too_long"] = rejected.get("too_long", 0) + 1
            continue
        packed.append(concat(sides))
    return Pairs(packed, rejected, truncated)


def pair_logps(model: Any, row: PackedBatch) -> torch.Tensor:
    """Summed log-probability of the supervised tokens of (chosen, rejected)."""
    row = row.to(model_device(model))
    logits = model(**row.model_inputs()).logits
    per_token = token_logprobs(logits, row.labels)[0] * (row.weights[0] > 0)
    sums, offset = [], 0
    for length in row.lengths:
        sums.append(per_token[offset : offset + length].sum())
        offset += length
    return torch.stack(sums)


class ReferenceLogps:
    """The frozen reference's (chosen, rejected) log-probabilities, computed on first use, so a
    short run pays only for the pairs it visits."""

    def __init__(self, reference: Any, rows: list[PackedBatch]) -> None:
        self.reference, self.rows = reference.eval(), rows
        self.cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.rows)

    @torch.no_grad()
    def __getitem__(self, i: int) -> torch.Tensor:
        if i not in self.cache:
            self.cache[i] = pair_logps(self.reference, self.rows[i])
        return self.cache[i]


def reference_logps(model: Any, rows: list[PackedBatch]) -> ReferenceLogps:
    return ReferenceLogps(model, rows)


def dpo_loss(policy: torch.Tensor, reference: torch.Tensor, beta: float) -> torch.Tensor:
    """-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))."""
    margin = (policy[0] - reference[0]) - (policy[1] - reference[1])
    return -F.logsigmoid(beta * margin)


@torch.no_grad()
def preference_accuracy(model: Any, rows: list[PackedBatch], refs: ReferenceLogps) -> float:
    """Share of pairs whose implicit reward ranks chosen above rejected."""
    if not rows:
        return 0.0
    model.eval()
    wins = 0
    for i, row in enumerate(rows):
        lp = pair_logps(model, row) - refs[i]
        wins += bool(lp[0] > lp[1])
    model.train()
    return wins / len(rows)


def train_preferences(
    runner: StepRunner,
    rows: list[PackedBatch],
    refs: ReferenceLogps,
    steps: int,
    per_step: int,
    beta: float,
    d: Dist,
    log_every: int,
) -> list[float]:
    mine = list(range(d.rank, len(rows), d.world)) or [0]
    losses, cursor = [], 0
    for step in range(steps):
        picks = [mine[(cursor + j) % len(mine)] for j in range(per_step)]
        cursor += per_step
        value = 0.0
        with runner.timed():
            for i in picks:
                logps = pair_logps(
                    runner.model if runner.engine is None else runner.engine, rows[i]
                )
                loss = dpo_loss(logps, refs[i], beta) / per_step
                runner.backward(loss)
                value += float(loss.detach())
                runner.throughput.add(rows[i].lengths, rows[i].capacity, rows[i].supervised_tokens)
            runner.step()
        losses.append(all_sum(value, d) / d.world)
        if d.main and log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} dpo loss {losses[-1]:.4f}", flush=True)
    return losses


def run_dpo(manifest_uri: str, options: DPOOptions, recipe: str = "dpo") -> RunRecord:
    options.validate()
    d = init_distributed()
    manifest, splits = open_export(manifest_uri, recipe)
    torch.manual_seed(options.seed)
    columns = ("prompt", "chosen", "rejected")
    tools = options.model.prompt_format().tools_in_prompt
    tokenizer = prepare_tokenizer(options.model, corpus_text(splits["train"], columns, tools), d)
    train = tokenize_pairs(tokenizer, splits["train"], options.max_length)
    heldout = tokenize_pairs(tokenizer, splits["validation"], options.max_length)
    if not train.rows:
        raise TrainerInputError(f"{manifest_uri}: no usable preference pair ({train.rejected})")
    model, groups = prepare_model(options.model, tokenizer, options.seed)
    reference = copy.deepcopy(model)
    for p in reference.parameters():
        p.requires_grad_(False)
    refs = reference_logps(reference, train.rows)
    held_refs = reference_logps(reference, heldout.rows)
    record = _record(recipe, manifest_uri, manifest, options, d)
    runner = StepRunner(model, groups, d, options.zero_stage, options.pairs_per_step)
    before = preference_accuracy(runner.model, heldout.rows, held_refs)
    losses = train_preferences(
        runner,
        train.rows,
        refs,
        options.steps,
        options.pairs_per_step,
        options.beta,
        d,
        options.log_every,
    )
    finish_record(
        record, runner, losses, _as_tokenized(train), train.rows, options.peak_tflops, model
    )
    record.eval = {
        "heldout_pref_accuracy_before": before,
        "heldout_pref_accuracy": preference_accuracy(runner.model, heldout.rows, held_refs),
    }
    return save_and_record(record, runner, tokenizer, train.rows, options, d)


def _record(recipe: str, uri: str, manifest: Any, options: Any, d: Dist) -> RunRecord:
    return RunRecord(
        recipe=recipe,
        manifest=uri,
        dataset=manifest.dataset.value,
        build_id=manifest.build_id,
        config_hash=config_hash(options),
        checkpoint_uri=str(Path(options.output_dir).resolve()),
        options=as_dict(options),
        world_size=d.world,
        started_at=datetime.now(UTC).isoformat(),
    )


def _as_tokenized(pairs: Pairs) -> Any:
    from collections import Counter

    from .sft import Tokenized

    fake = [TokenizedExample([], [])] * len(pairs.rows)
    return Tokenized(fake, [], Counter(pairs.rejected), pairs.truncated)
