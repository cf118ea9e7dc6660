"""The `sft` recipe: supervised fine-tuning on the `sft` export (all phases, `phase` column).

Phases are mixed with sampling weights (`schedule: mixed`) or trained in order
(`schedule: curriculum`: orchestration, then component evolution, then transfer). The loss is the
per-token weighted cross-entropy of the template's supervised tokens, normalised over each
optimizer step's supervised weight (see loss.py).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from .checkpoint import save_checkpoint
from .errors import TrainerInputError
from .loss import step_loss, token_logprobs
from .options import as_dict, config_hash
from .packing import PackedBatch, fill_share, pack, padding_share
from .records import RunRecord, write_run_files
from .session import (
    Dist,
    ModelOptions,
    StepRunner,
    all_sum,
    gathered_model,
    init_distributed,
    model_device,
    open_export,
    prepare_model,
    prepare_tokenizer,
)
from .template import ExampleRejected, TokenizedExample, parse_tools, tokenize_within_limit

PHASES = ("orchestration", "component_evolution", "transfer")


@dataclass
class SFTOptions:
    output_dir: str = "checkpoints/sft"
    model: ModelOptions = field(default_factory=ModelOptions)
    steps: int = 40
    micro_batches: int = 2  # packed rows per optimizer step (gradient accumulation)
    max_length: int = 512
    pack_capacity: int = 1024
    phases: list[str] = field(default_factory=lambda: list(PHASES))
    schedule: str = "mixed"  # mixed | curriculum
    phase_weights: dict[str, float] = field(default_factory=dict)  # mixed: weight per phase
    seed: int = 0
    zero_stage: int = 2  # DeepSpeed ZeRO stage for distributed runs (0: DDP)
    peak_tflops: float = 0.0  # accelerator peak for MFU; 0: not reported
    reload_tolerance: float = 1e-6
    log_every: int = 10

    def validate(self) -> None:
        if self.schedule not in {"mixed", "curriculum"}:
            raise TrainerInputError(f"schedule {self.schedule!r}: use mixed or curriculum")
        unknown = sorted(set(self.phases) - set(PHASES))
        if unknown:
            raise TrainerInputError(f"phases {unknown}: known phases are {', '.join(PHASES)}")
        if self.max_length > self.pack_capacity:
            raise TrainerInputError("max_length must be <= pack_capacity")
        if self.steps < 1 or self.micro_batches < 1:
            raise TrainerInputError("steps and micro_batches must be >= 1")


@dataclass
class Tokenized:
    examples: list[TokenizedExample]
    phases: list[str]
    rejected: Counter
    truncated: int


def tokenize_rows(
    tokenizer: Any, rows: list[dict[str, Any]], max_length: int, column: str = "messages"
) -> Tokenized:
    examples, phases, rejected, truncated = [], [], Counter(), 0
    for row in rows:
        try:
            ex = tokenize_within_limit(
                tokenizer, row[column], parse_tools(row.get("tools")), max_length
            )
        except ExampleRejected as exc:
            rejected[str(exc).split(":")[0] if "max_length" not in str(exc) else "too_long"] += 1
            continue
        if not any(w > 0 for w in ex.weights):
            rejected["no_supervised_tokens"] += 1
            continue
        truncated += ex.dropped_turns > 0
        examples.append(ex)
        phases.append(row.get("phase") or "orchestration")
    return Tokenized(examples, phases, rejected, truncated)


def corpus_text(
    rows: list[dict[str, Any]], columns: tuple[str, ...] = ("messages",), tools: bool = True
) -> list[str]:
    """Plain text of the export for training a toy tokenizer (the tool schemas only when
    prompts will hold them: no vocabulary spent on text the model never sees)."""
    texts = []
    for row in rows:
        for column in columns:
            for m in row.get(column) or []:
                texts.append(m.get("content") or "")
                texts.append(m.get("reasoning") or "")
                for call in m.get("tool_calls") or []:
                    texts.append(str(call))
        if tools:
            texts.append(row.get("tools") or "")
    return texts


def order_for_schedule(phases: list[str], options: SFTOptions) -> list[int]:
    """Example indices in training order: phases in sequence, or mixed by phase weight."""
    rng = random.Random(options.seed)
    index = [i for i, p in enumerate(phases) if p in options.phases]
    if options.schedule == "curriculum":
        rank = {p: n for n, p in enumerate(PHASES)}
        by_phase = sorted(index, key=lambda i: (rank[phases[i]], rng.random()))
        return by_phase
    order = []
    for i in index:
        weight = options.phase_weights.get(phases[i], 1.0)
        copies = int(weight) + (rng.random() < weight - int(weight))
        order += [i] * copies
    rng.shuffle(order)
    return order


def pack_in_order(
    examples: list[TokenizedExample], order: list[int], options: SFTOptions
) -> list[PackedBatch]:
    """Pack consecutive windows so that a curriculum's phase order survives packing."""
    window = max(64, options.micro_batches * 4)
    rows: list[PackedBatch] = []
    for start in range(0, len(order), window):
        rows += pack([examples[i] for i in order[start : start + window]], options.pack_capacity)
    return rows


@torch.no_grad()
def heldout_loss(model: Any, rows: list[PackedBatch]) -> float:
    """Mean negative log-likelihood per supervised token."""
    model.eval()
    total, count = 0.0, 0
    device = model_device(model)
    for row in rows:
        row = row.to(device)
        logits = model(**row.model_inputs()).logits
        mask = row.weights > 0
        total += float(-(token_logprobs(logits, row.labels))[mask].sum())
        count += int(mask.sum())
    model.train()
    return total / max(count, 1)


def unigram_loss(train: list[PackedBatch], heldout: list[PackedBatch], vocab: int) -> float:
    """Cross-entropy of an add-one unigram model of the train targets on held-out targets."""
    counts = torch.zeros(vocab, dtype=torch.float64)
    for row in train:
        targets = row.labels[row.weights > 0]
        counts += torch.bincount(targets, minlength=vocab)[:vocab].double()
    logp = torch.log((counts + 1) / (counts.sum() + vocab))
    total, n = 0.0, 0
    for row in heldout:
        targets = row.labels[row.weights > 0]
        total -= float(logp[targets].sum())
        n += len(targets)
    return total / max(n, 1)


def train_packed(
    runner: StepRunner, rows: list[PackedBatch], steps: int, micro: int, d: Dist, log_every: int
) -> list[float]:
    """The optimizer loop shared by SFT-style recipes; returns the per-step loss."""
    mine = rows[d.rank :: d.world] or rows[:1]
    losses: list[float] = []
    cursor = 0
    for step in range(steps):
        batch = [mine[(cursor + j) % len(mine)] for j in range(micro)]
        cursor += micro
        local_weight = float(sum(r.weights.sum() for r in batch))
        step_total = all_sum(local_weight, d) / d.world  # ranks' gradients are averaged
        step_value = 0.0
        with runner.timed():
            for row in batch:
                row = row.to(runner.device)
                logits = runner.forward(**row.model_inputs()).logits
                loss = step_loss(logits, row.labels, row.weights, step_total)
                runner.backward(loss)
                step_value += float(loss.detach())
                runner.throughput.add(row.lengths, row.capacity, row.supervised_tokens)
            runner.step()
        losses.append(all_sum(step_value, d) / d.world)
        if d.main and log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} loss {losses[-1]:.4f}", flush=True)
    return losses


def run_sft(manifest_uri: str, options: SFTOptions) -> RunRecord:
    options.validate()
    d = init_distributed()
    manifest, splits = open_export(manifest_uri, "sft")
    torch.manual_seed(options.seed)
    corpus = corpus_text(splits["train"], tools=options.model.prompt_format().tools_in_prompt)
    tokenizer = prepare_tokenizer(options.model, corpus, d)
    train = tokenize_rows(tokenizer, splits["train"], options.max_length)
    heldout = tokenize_rows(tokenizer, splits["validation"], options.max_length)
    if not train.examples:
        raise TrainerInputError(
            f"{manifest_uri}: no trainable example (rejected: {dict(train.rejected)})"
        )
    model, groups = prepare_model(options.model, tokenizer, options.seed)
    order = order_for_schedule(train.phases, options)
    rows = pack_in_order(train.examples, order, options)
    heldout_rows = pack(heldout.examples, options.pack_capacity) if heldout.examples else []
    record = RunRecord(
        recipe="sft",
        manifest=manifest_uri,
        dataset=manifest.dataset.value,
        build_id=manifest.build_id,
        config_hash=config_hash(options),
        checkpoint_uri=str(Path(options.output_dir).resolve()),
        options=as_dict(options),
        world_size=d.world,
    )
    runner = StepRunner(model, groups, d, options.zero_stage, options.micro_batches)
    losses = train_packed(runner, rows, options.steps, options.micro_batches, d, options.log_every)
    finish_record(record, runner, losses, train, rows, options.peak_tflops, model)
    if heldout_rows:
        record.eval = {
            "heldout_loss": heldout_loss(runner.model, heldout_rows),
            "unigram_baseline": unigram_loss(rows, heldout_rows, len(tokenizer)),
        }
    return save_and_record(record, runner, tokenizer, rows, options, d)


def finish_record(
    record: RunRecord,
    runner: StepRunner,
    losses: list[float],
    data: Tokenized,
    rows: list[PackedBatch],
    peak_tflops: float,
    model: Any,
) -> None:
    tp = runner.throughput
    record.steps = len(losses)
    record.summarise_losses(losses)
    record.examples = len(data.examples)
    record.rejected = sum(data.rejected.values())
    record.rejected_reasons = dict(data.rejected)
    record.truncated = data.truncated
    seen = len(data.examples) + record.rejected
    record.truncation_pct = 100 * data.truncated / max(seen, 1)
    record.padding_pct = 100 * padding_share(rows)
    record.pack_fill_pct = 100 * fill_share(rows)
    record.supervised_pct = 100 * tp.supervised_tokens / max(tp.real_tokens, 1)
    record.tokens_per_s = tp.tokens_per_s
    config = getattr(model, "config", None)
    if config is not None and peak_tflops:
        matmul = sum(
            p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n
        )
        record.mfu = tp.mfu(
            matmul, config.num_hidden_layers, config.hidden_size, peak_tflops * 1e12
        )
    record.parameters = {
        "total": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def save_and_record(
    record: RunRecord,
    runner: StepRunner,
    tokenizer: Any,
    rows: list[PackedBatch],
    options: Any,
    d: Dist,
) -> RunRecord:
    model = gathered_model(runner, options, tokenizer, d)  # every rank joins a ZeRO-3 gather
    if d.main:
        probe = rows[0].input_ids[:, : min(64, rows[0].input_ids.shape[1])]
        record.reload_check = save_checkpoint(
            model, tokenizer, options.output_dir, probe, options.reload_tolerance
        )
        record.status = "succeeded"
        record.ended_at = datetime.now(UTC).isoformat()
        if record.loss_last is not None and not math.isfinite(record.loss_last):
            record.status = "diverged"
        write_run_files(record, options.output_dir)
    return record
