"""Tokenizers: a model directory's own, or a byte-level BPE trained on the export (tests, toys)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import TrainerInputError
from .template import CHAT_TEMPLATE, EOT, PAD, SPECIAL_TOKENS, load_prompt_format, set_prompt_format


def train_bpe(
    texts: Iterable[str], vocab_size: int = 512, special_tokens: Iterable[str] = SPECIAL_TOKENS
) -> Any:
    """A byte-level BPE (tokenizers) with our special tokens, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOT, pad_token=PAD)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def load_tokenizer(model_dir: str | Path) -> Any:
    """The tokenizer saved with a model, with the prompt format it was trained with; our
    special tokens are added when it lacks them."""
    from transformers import AutoTokenizer

    path = Path(model_dir)
    if not path.is_dir():
        raise TrainerInputError(f"{path}: model directory not found; pass a local model folder")
    if not any((path / name).exists() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise TrainerInputError(
            f"{path}: no tokenizer (tokenizer.json) in the model directory; save the model's "
            "tokenizer next to its weights"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    missing = [t for t in SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = PAD
    tokenizer.chat_template = CHAT_TEMPLATE
    set_prompt_format(tokenizer, load_prompt_format(path))
    return tokenizer


def new_token_ids(tokenizer: Any, base_vocab_size: int) -> list[int]:
    """Ids added on top of the base model's vocabulary (trained in full by the hybrid)."""
    return [i for i in range(base_vocab_size, len(tokenizer))]
