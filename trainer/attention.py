"""Variable-length attention for packed rows, without the flash-attn package.

flash-attn does not install where no compiler toolchain for it exists (and on the GPU machines
here nothing can be fetched), so packed rows fell back to SDPA with a block-diagonal mask
that transformers derives from the position resets. That mask is dense: SDPA computes all
T x T scores of a packed row and throws most of them away, so a 16K-token row of 2K-token
documents pays about eight times the attention work it needs.

`packed_attention` is registered with transformers as the attention implementation
`PACKED_ATTENTION`. It splits the row at the position resets (or takes `cu_seq_lens_q` and
`max_length_q` from the caller, which avoids a device sync per layer) and runs:
- on CUDA, PyTorch's own variable-length flash attention (`torch.nn.attention.varlen`);
- elsewhere, causal SDPA on each document alone: exact, and cheap at the sizes a CPU trains.
transformers builds no mask for an implementation it does not know, so none is built here.
"""

from __future__ import annotations

import inspect
import itertools
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F

PACKED_ATTENTION = "tracelake_packed"


@cache
def _varlen() -> tuple[Any, frozenset[str]] | None:
    """torch's varlen flash attention and the keyword arguments this torch version takes."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn, frozenset(inspect.signature(varlen_attn).parameters)


def varlen_available(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda" and _varlen() is not None


def document_bounds(position_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(cu_seqlens int32 of shape (N+1,), longest document) from positions reset at each start."""
    positions = position_ids.reshape(-1)
    starts = torch.nonzero(positions == 0).flatten()
    if starts.numel() == 0 or starts[0].item() != 0:
        raise ValueError("a packed row must start a document at position 0")
    ends = torch.cat([starts, starts.new_tensor([positions.numel()])])
    cu = ends.to(torch.int32)
    return cu, int((cu[1:] - cu[:-1]).max().item())


def cu_seqlens(lengths: list[int], device: torch.device | str) -> tuple[torch.Tensor, int]:
    """The same bounds from document lengths known on the host (no device sync)."""
    bounds = [0]
    for n in lengths:
        bounds.append(bounds[-1] + n)
    return torch.tensor(bounds, dtype=torch.int32, device=device), max(lengths)


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention inside each document of a packed (1, H, T, D) row; (1, T, H, D) out."""
    if query.shape[0] != 1:
        raise ValueError(
            f"{PACKED_ATTENTION} takes one packed row, got a batch of {query.shape[0]}"
        )
    if attention_mask is not None:
        raise ValueError(
            f"{PACKED_ATTENTION} takes no attention mask: pack rows instead of padding"
        )
    if kwargs.get("sliding_window") is not None:
        raise ValueError(f"{PACKED_ATTENTION} does not implement sliding-window attention")
    if dropout:
        raise ValueError(f"{PACKED_ATTENTION} does not implement attention dropout")
    if kwargs.get("cu_seq_lens_q") is not None:
        cu, longest = kwargs["cu_seq_lens_q"], int(kwargs["max_length_q"])
    else:
        cu, longest = document_bounds(kwargs["position_ids"])
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (T, H, D)
    if varlen_available(q.device) and q.dtype in (torch.bfloat16, torch.float16):
        out = _flash(q, k, v, cu.to(q.device, torch.int32), longest, scaling)
    else:
        out = _per_document(q, k, v, cu.tolist(), scaling)
    return out.unsqueeze(0), None


def _repeat_kv(k: torch.Tensor, v: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    groups = heads // k.shape[1]
    if groups == 1:
        return k, v
    return k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)


def _flash(q, k, v, cu: torch.Tensor, longest: int, scaling: float | None) -> torch.Tensor:
    varlen_attn, params = _varlen()  # type: ignore[misc]
    extra: dict[str, Any] = {}
    # The keyword for "causal" changed between torch releases.
    if "window_size" in params:
        extra["window_size"] = (-1, 0)
    else:
        extra["is_causal"] = True
    if "scale" in params and scaling is not None:
        extra["scale"] = scaling
    if "enable_gqa" in params:
        extra["enable_gqa"] = True
    else:
        k, v = _repeat_kv(k, v, q.shape[1])
    return varlen_attn(
        q.contiguous(), k.contiguous(), v.contiguous(), cu, cu, longest, longest, **extra
    )


def _per_document(q, k, v, bounds: list[int], scaling: float | None) -> torch.Tensor:
    k, v = _repeat_kv(k, v, q.shape[1])
    pieces = []
    for start, end in itertools.pairwise(bounds):
        qd, kd, vd = (t[start:end].transpose(0, 1) for t in (q, k, v))  # (H, n, D)
        pieces.append(F.scaled_dot_product_attention(qd, kd, vd, is_causal=True, scale=scaling))
    return torch.cat(pieces, dim=1).transpose(0, 1)  # (T, H, D)


@cache
def register() -> str:
    """Make `PACKED_ATTENTION` a name transformers' `attn_implementation` accepts."""
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_ATTENTION, packed_attention)
    return PACKED_ATTENTION
