"""Checkpoints: a full Hugging Face model directory, checked by reloading it and comparing logits.

The hybrid's LoRA adapters are merged into the base weights before saving, so a checkpoint is a
plain model directory that evaluation (and the next recipe of a pipeline) loads like any other.
Known failures of other tools, empty adapter files or fully-trained modules lost on save, would
show here as a logit difference: every save is reloaded and compared (<= 1e-6 by default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .errors import TrainerInputError
from .template import save_prompt_format

MERGE_TOLERANCE = 1e-4
# Merging LoRA into bfloat16 weights rounds each merged weight to 8 bits of mantissa; the logits
# then move by about 1% of their scale. Relative, because bf16 error scales with the values.
HALF_MERGE_RELATIVE = 0.05


class CheckpointMismatchError(TrainerInputError):
    """A saved checkpoint does not reproduce the trained model's logits."""


@torch.no_grad()
def probe_logits(model: Any, probe: torch.Tensor) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    out = model(input_ids=probe.to(device), use_cache=False).logits.float()
    model.train()
    return out


def merge_tolerance(dtype: torch.dtype, logits: torch.Tensor) -> float:
    if dtype == torch.float32:
        return MERGE_TOLERANCE
    return HALF_MERGE_RELATIVE * max(logits.abs().max().item(), 1.0)


def unwrap(model: Any) -> Any:
    """The plain transformers model: adapters merged, peft's copies of full modules folded in."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def save_checkpoint(
    model: Any, tokenizer: Any, out_dir: str | Path, probe: torch.Tensor, tolerance: float = 1e-6
) -> dict[str, Any]:
    """Save model + tokenizer (and its prompt format); reload and compare logits on `probe`.
    Returns the check's figures."""
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trained = probe_logits(model, probe)
    plain = unwrap(model)
    # Merging LoRA into float32 weights changes logits at rounding level (~1e-6 here); that is
    # reported separately from the save/reload check, which must be exact to `tolerance`.
    expected = probe_logits(plain, probe)
    merge_diff = (expected - trained).abs().max().item()
    plain.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    save_prompt_format(tokenizer, out)
    # Reloaded as trained (dtype, attention, device): the check is about the save, so nothing
    # else may differ. config.json records no attention implementation; loaders choose their own.
    weight = next(plain.parameters())
    reloaded = AutoModelForCausalLM.from_pretrained(
        str(out), dtype=weight.dtype, attn_implementation=plain.config._attn_implementation
    ).to(weight.device)
    diff = (probe_logits(reloaded, probe) - expected).abs().max().item()
    merge_limit = merge_tolerance(weight.dtype, trained)
    check = {
        "max_abs_logit_diff": diff,
        "tolerance": tolerance,
        "merge_max_abs_logit_diff": merge_diff,
        "merge_tolerance": merge_limit,
        "dtype": str(weight.dtype).removeprefix("torch."),
        "attention": plain.config._attn_implementation,
        "ok": diff <= tolerance and merge_diff <= merge_limit,
    }
    (out / "reload_check.json").write_text(json.dumps(check, indent=2))
    if merge_diff > merge_limit:
        raise CheckpointMismatchError(
            f"{out}: merging the adapters changed logits by {merge_diff:.3g} "
            f"(> {merge_limit:g}); the merged model is not the trained one"
        )
    if not check["ok"]:
        raise CheckpointMismatchError(
            f"{out}: reloaded checkpoint differs from the trained model by {diff:.3g} "
            f"(> {tolerance:g}); the save lost weights, do not use it"
        )
    return check
