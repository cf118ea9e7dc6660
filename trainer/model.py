"""Models: a local Hugging Face model directory, or a tiny Llama/Qwen-shaped one from a config.

The hybrid (`HybridOptions`): LoRA on every linear layer of blocks [0, L-k), full-parameter
training of the last k blocks and the LM head, and of the embedding rows of tokens added for the
tool-call format; three learning rates (LoRA, full, new tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import TrainerInputError

LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class HybridOptions:
    full_last_blocks: int = 1  # k: the last k blocks are trained in full
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lr_lora: float = 2e-3
    lr_full: float = 5e-4
    lr_new_tokens: float = 2e-3
    lora: bool = True  # False: full fine-tune of everything


def tiny_config(vocab_size: int, shape: str = "llama", layers: int = 2, hidden: int = 64) -> Any:
    """A real architecture at toy size (no weights can be fetched here)."""
    from transformers import LlamaConfig, Qwen2Config

    cls = {"llama": LlamaConfig, "qwen2": Qwen2Config}[shape]
    return cls(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )


def build_model(
    config: Any, seed: int = 0, attention: str = "sdpa", dtype: torch.dtype = torch.float32
) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    # Built in `dtype`, not cast afterwards: a cast would also round the rotary embedding's
    # float32 frequencies, and the model would no longer be the one a loader reconstructs.
    return AutoModelForCausalLM.from_config(
        config, attn_implementation=_attention(attention), dtype=dtype
    )


def load_model(
    model_dir: str | Path, dtype: torch.dtype = torch.float32, attention: str = "sdpa"
) -> Any:
    from transformers import AutoModelForCausalLM

    path = Path(model_dir)
    if not (path / "config.json").exists():
        raise TrainerInputError(f"{path}: no config.json; pass a Hugging Face model directory")
    return AutoModelForCausalLM.from_pretrained(
        str(path), dtype=dtype, attn_implementation=_attention(attention)
    )


def _attention(name: str) -> str:
    if name == "packed":
        from .attention import register

        return register()
    return name


def num_blocks(model: Any) -> int:
    return int(model.config.num_hidden_layers)


def apply_hybrid(
    model: Any, options: HybridOptions, new_token_ids: list[int]
) -> tuple[Any, list[dict[str, Any]]]:
    """Wrap `model` for the hybrid; returns (model, optimizer param groups with their LRs)."""
    layers = num_blocks(model)
    k = max(0, min(options.full_last_blocks, layers))
    if not options.lora:
        return model, [{"params": [p for p in model.parameters()], "lr": options.lr_full}]
    from peft import LoraConfig, get_peft_model

    lora_blocks = "|".join(str(i) for i in range(layers - k))
    # modules_to_save copies the last k blocks and the head so that peft saves them in full.
    full_modules = [f"layers.{i}" for i in range(layers - k, layers)] + ["lm_head"]
    config = LoraConfig(
        r=options.lora_rank,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=(
            rf".*\.layers\.({lora_blocks})\.(self_attn|mlp)\.({'|'.join(LINEAR_NAMES)})"
            if lora_blocks
            else []
        ),
        modules_to_save=full_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    lora_params, full_params = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (lora_params if "lora_" in name else full_params).append(param)
    groups = [
        {"params": lora_params, "lr": options.lr_lora, "name": "lora"},
        {"params": full_params, "lr": options.lr_full, "name": "full"},
    ]
    if new_token_ids:
        embed = model.get_input_embeddings().weight
        embed.requires_grad_(True)
        rows = torch.zeros(embed.shape[0], 1, dtype=embed.dtype)
        rows[new_token_ids] = 1.0
        # Only the new tokens' rows learn; the others keep their pretrained vectors exactly
        # (zero gradient and no weight decay in this group leave Adam's update at zero).
        embed.register_hook(lambda grad: grad * rows.to(grad.device))
        groups.append(
            {"params": [embed], "lr": options.lr_new_tokens, "weight_decay": 0.0, "name": "new"}
        )
    return model, [g for g in groups if g["params"]]


def trainable_summary(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable": trainable}
