"""The `constitutional` recipe: critique-and-revise SFT, then preference training on the pairs.

Stage 1 trains on the critique examples (`critique_messages`: given a trajectory, name the rule it
broke and why). Stage 2 runs DPO on `prompt`/`chosen`/`rejected` (compliant vs violating
trajectory, tagged with its `rule`). One model goes through both stages and one checkpoint is
saved; the run record holds each stage's figures.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from .dpo import preference_accuracy, reference_logps, tokenize_pairs, train_preferences
from .errors import TrainerInputError
from .packing import pack
from .records import RunRecord
from .session import (
    ModelOptions,
    StepRunner,
    init_distributed,
    open_export,
    prepare_model,
    prepare_tokenizer,
)
from .sft import (
    corpus_text,
    finish_record,
    heldout_loss,
    save_and_record,
    tokenize_rows,
    train_packed,
)


@dataclass
class ConstitutionalOptions:
    output_dir: str = "checkpoints/constitutional"
    model: ModelOptions = field(default_factory=ModelOptions)
    critique_steps: int = 10
    preference_steps: int = 10
    micro_batches: int = 2
    pairs_per_step: int = 4
    beta: float = 0.1
    max_length: int = 512
    pack_capacity: int = 1024
    rules: list[str] = field(default_factory=list)  # empty: every rule in the export
    seed: int = 0
    zero_stage: int = 2
    peak_tflops: float = 0.0
    reload_tolerance: float = 1e-6
    log_every: int = 10


def run_constitutional(manifest_uri: str, options: ConstitutionalOptions) -> RunRecord:
    from .dpo import _record

    d = init_distributed()
    manifest, splits = open_export(manifest_uri, "constitutional")
    if options.rules:
        for name in ("train", "validation"):
            splits[name] = [r for r in splits[name] if r.get("rule") in options.rules]
        if not splits["train"]:
            raise TrainerInputError(f"{manifest_uri}: no pair for rules {options.rules}")
    torch.manual_seed(options.seed)
    columns = ("prompt", "chosen", "rejected", "critique_messages")
    tools = options.model.prompt_format().tools_in_prompt
    tokenizer = prepare_tokenizer(options.model, corpus_text(splits["train"], columns, tools), d)
    critiques = tokenize_rows(tokenizer, splits["train"], options.max_length, "critique_messages")
    held_critiques = tokenize_rows(
        tokenizer, splits["validation"], options.max_length, "critique_messages"
    )
    pairs = tokenize_pairs(tokenizer, splits["train"], options.max_length)
    held_pairs = tokenize_pairs(tokenizer, splits["validation"], options.max_length)
    if not critiques.examples or not pairs.rows:
        raise TrainerInputError(f"{manifest_uri}: no usable critique example or pair")
    model, groups = prepare_model(options.model, tokenizer, options.seed)
    record = _record("constitutional", manifest_uri, manifest, options, d)
    runner = StepRunner(model, groups, d, options.zero_stage, options.micro_batches)

    rows = pack(critiques.examples, options.pack_capacity)
    held_rows = (
        pack(held_critiques.examples, options.pack_capacity) if held_critiques.examples else []
    )
    critique_before = heldout_loss(runner.model, held_rows) if held_rows else float("nan")
    losses = train_packed(
        runner, rows, options.critique_steps, options.micro_batches, d, options.log_every
    )
    critique_after = heldout_loss(runner.model, held_rows) if held_rows else float("nan")

    # Stage 2: the reference is the critique-trained model.
    reference = copy.deepcopy(runner.model).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    refs = reference_logps(reference, pairs.rows)
    held_refs = reference_logps(reference, held_pairs.rows)
    losses += train_preferences(
        runner,
        pairs.rows,
        refs,
        options.preference_steps,
        options.pairs_per_step,
        options.beta,
        d,
        options.log_every,
    )
    finish_record(record, runner, losses, critiques, rows, options.peak_tflops, model)
    record.eval = {
        "critique_heldout_loss_before": critique_before,
        "critique_heldout_loss": critique_after,
        "heldout_pref_accuracy": preference_accuracy(runner.model, held_pairs.rows, held_refs),
    }
    return save_and_record(record, runner, tokenizer, rows, options, d)
