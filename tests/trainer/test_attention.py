"""The packed attention: each document of a packed row attends only to itself, exactly."""

from __future__ import annotations

import pytest
import torch

from tracelake.trainer.attention import (
    PACKED_ATTENTION,
    cu_seqlens,
    document_bounds,
    packed_attention,
    register,
)
from tracelake.trainer.model import build_model, tiny_config

LENGTHS = [30, 17, 50]


@pytest.fixture(scope="module")
def packed_model():
    model = build_model(tiny_config(256), seed=0, attention="packed").eval()
    assert model.config._attn_implementation == PACKED_ATTENTION == register()
    return model


def _row() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    ids = torch.randint(0, 256, (1, sum(LENGTHS)))
    positions = torch.cat([torch.arange(n) for n in LENGTHS]).unsqueeze(0)
    return ids, positions


def _worst_vs_alone(model, logits: torch.Tensor, ids: torch.Tensor) -> float:
    worst, offset = 0.0, 0
    with torch.no_grad():
        for n in LENGTHS:
            alone = model(input_ids=ids[:, offset : offset + n], use_cache=False).logits[0]
            worst = max(worst, (logits[offset : offset + n] - alone).abs().max().item())
            offset += n
    return worst


def test_packed_row_logits_equal_each_document_alone(packed_model) -> None:
    ids, positions = _row()
    cu, longest = cu_seqlens(LENGTHS, "cpu")
    with torch.no_grad():
        from_positions = packed_model(input_ids=ids, position_ids=positions, use_cache=False)
        from_bounds = packed_model(
            input_ids=ids,
            position_ids=positions,
            use_cache=False,
            cu_seq_lens_q=cu,
            cu_seq_lens_k=cu,
            max_length_q=longest,
            max_length_k=longest,
        )
    assert _worst_vs_alone(packed_model, from_positions.logits[0], ids) <= 1e-5
    assert torch.equal(from_positions.logits, from_bounds.logits)


def test_one_long_document_is_not_the_same_as_three(packed_model) -> None:
    """The comparison above can fail: positions that never reset make one document of the row,
    and the later documents then see the earlier ones."""
    ids, _ = _row()
    with torch.no_grad():
        merged = packed_model(input_ids=ids, use_cache=False).logits[0]
    assert _worst_vs_alone(packed_model, merged, ids) > 1e-3


def test_bounds_from_positions_and_from_lengths_agree() -> None:
    _, positions = _row()
    assert document_bounds(positions)[0].tolist() == cu_seqlens(LENGTHS, "cpu")[0].tolist()
    assert document_bounds(positions)[1] == max(LENGTHS)
    with pytest.raises(ValueError, match="position 0"):
        document_bounds(torch.tensor([[1, 2, 0, 1]]))


def test_padding_masks_and_batches_are_refused() -> None:
    q = torch.zeros(1, 4, 6, 8)
    with pytest.raises(ValueError, match="no attention mask"):
        packed_attention(None, q, q, q, torch.ones(1, 1, 6, 6), position_ids=torch.arange(6)[None])
    with pytest.raises(ValueError, match="one packed row"):
        packed_attention(None, q.expand(2, -1, -1, -1), q, q, None)
