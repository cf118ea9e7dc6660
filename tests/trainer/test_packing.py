"""Packing: best-fit-decreasing bins, and packed logits equal each sequence run alone."""

from __future__ import annotations

import random

import pytest
import torch
from trainer_fixture import TOOLS, conversation

from tracelake.trainer.packing import best_fit_decreasing, pack, padding_share
from tracelake.trainer.template import tokenize_messages


def test_best_fit_decreasing_fills_tightest_bin() -> None:
    bins = best_fit_decreasing([6, 5, 4, 3, 2], capacity=10)
    assert sorted(sorted(b) for b in bins) == [[0, 3], [1, 2]] or len(bins) == 2
    assert all(sum([6, 5, 4, 3, 2][i] for i in b) <= 10 for b in bins)
    assert sorted(i for b in bins for i in b) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="over the pack capacity"):
        best_fit_decreasing([11], capacity=10)


def _examples(tokenizer, n: int = 3):
    rng = random.Random(11)
    return [tokenize_messages(tokenizer, conversation(rng)[0], TOOLS) for _ in range(n)]


def packed_vs_alone(model, tokenizer, **override) -> float:
    """Max |logit difference| between each example inside a packed row and the example alone."""
    examples = _examples(tokenizer)
    (row,) = pack(examples, capacity=sum(len(e.input_ids) for e in examples))
    assert len(row.lengths) == 3 and padding_share([row]) == 0.0
    inputs = {**row.model_inputs(), **override}
    with torch.no_grad():
        packed = model(**inputs).logits[0]
        worst, offset = 0.0, 0
        for length in row.lengths:
            alone = model(
                input_ids=row.input_ids[:, offset : offset + length], use_cache=False
            ).logits[0]
            worst = max(worst, (packed[offset : offset + length] - alone).abs().max().item())
            offset += length
    return worst


def test_packed_logits_equal_alone(tiny_model, tokenizer) -> None:
    assert packed_vs_alone(tiny_model, tokenizer) <= 1e-5


def test_packing_breaks_with_a_2d_mask_or_a_cache(tiny_model, tokenizer) -> None:
    """The same comparison fails when a padding mask or a KV cache is passed, so the equality
    above really comes from the position resets (documents do not see each other)."""
    examples = _examples(tokenizer)
    total = sum(len(e.input_ids) for e in examples)
    assert packed_vs_alone(tiny_model, tokenizer, attention_mask=torch.ones(1, total)) > 1e-3
    assert packed_vs_alone(tiny_model, tokenizer, use_cache=True) > 1e-3


def test_positions_reset_and_labels_stay_inside_each_example(tokenizer) -> None:
    examples = _examples(tokenizer)
    (row,) = pack(examples, capacity=10_000)
    starts = [i for i, p in enumerate(row.position_ids[0].tolist()) if p == 0]
    assert len(starts) == 3
    # The last token of each example predicts nothing (no target from the next document).
    for start in starts[1:]:
        assert row.labels[0, start - 1].item() == -100 and row.weights[0, start - 1] == 0
