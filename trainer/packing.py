"""Best-fit-decreasing packing into padding-free rows with positions reset per sequence.

A packed row is one `1 x T` tensor of several examples back to back; `position_ids` restart at 0
for each example, and the model is called with `attention_mask=None` and `use_cache=False`.
transformers then derives a block-diagonal causal mask from the position resets (SDPA/eager) or
uses variable-length kernels (flash attention), so no token attends across a document boundary.
A 2-D attention mask or a KV cache disables that detection: never pass either with packed rows.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

import torch

from .attention import cu_seqlens
from .template import TokenizedExample


@dataclass(frozen=True)
class PackedBatch:
    input_ids: torch.Tensor  # (1, T)
    position_ids: torch.Tensor  # (1, T), reset at each example
    labels: torch.Tensor  # (1, T) next-token targets, -100 where unsupervised
    weights: torch.Tensor  # (1, T) loss weight of each target
    lengths: list[int]
    capacity: int

    @property
    def real_tokens(self) -> int:
        return sum(self.lengths)

    @property
    def supervised_tokens(self) -> int:
        return int((self.weights > 0).sum())

    def to(self, device: torch.device | str) -> PackedBatch:
        if self.input_ids.device == torch.device(device):
            return self
        return replace(
            self,
            input_ids=self.input_ids.to(device),
            position_ids=self.position_ids.to(device),
            labels=self.labels.to(device),
            weights=self.weights.to(device),
        )

    def model_inputs(self) -> dict[str, torch.Tensor | bool | int | None]:
        # The document bounds are known here on the host; passing them spares variable-length
        # attention a device sync per layer to find them (SDPA ignores them).
        bounds, longest = cu_seqlens(self.lengths, self.input_ids.device)
        return {
            "input_ids": self.input_ids,
            "position_ids": self.position_ids,
            "attention_mask": None,
            "use_cache": False,
            "cu_seq_lens_q": bounds,
            "cu_seq_lens_k": bounds,
            "max_length_q": longest,
            "max_length_k": longest,
        }


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins of example indices, each summing to <= capacity (longest first, tightest bin)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (space left, bin index)
    for i in order:
        need = lengths[i]
        if need > capacity:
            raise ValueError(f"example {i} has {need} tokens, over the pack capacity {capacity}")
        at = bisect.bisect_left(free, (need, -1))
        if at < len(free):
            space, b = free.pop(at)
        else:
            bins.append([])
            space, b = capacity, len(bins) - 1
        bins[b].append(i)
        bisect.insort(free, (space - need, b))
    return bins


def _targets(example: TokenizedExample) -> tuple[list[int], list[float]]:
    """Shift by one inside the example: token t predicts t+1; the last token predicts nothing."""
    ids, w = example.input_ids, example.weights
    labels = [*ids[1:], -100]
    weights = [*w[1:], 0.0]
    labels = [lab if wt > 0 else -100 for lab, wt in zip(labels, weights, strict=True)]
    return labels, weights


def concat(examples: list[TokenizedExample], capacity: int | None = None) -> PackedBatch:
    """One packed row of `examples` in the given order (e.g. a preference pair)."""
    ids, pos, labels, weights, lengths = [], [], [], [], []
    for ex in examples:
        lab, wt = _targets(ex)
        ids += ex.input_ids
        pos += list(range(len(ex.input_ids)))
        labels += lab
        weights += wt
        lengths.append(len(ex.input_ids))
    return PackedBatch(
        input_ids=torch.tensor([ids]),
        position_ids=torch.tensor([pos]),
        labels=torch.tensor([labels]),
        weights=torch.tensor([weights], dtype=torch.float32),
        lengths=lengths,
        capacity=capacity or len(ids),
    )


def pack(examples: list[TokenizedExample], capacity: int) -> list[PackedBatch]:
    """Best-fit-decreasing rows of at most `capacity` tokens."""
    bins = best_fit_decreasing([len(e.input_ids) for e in examples], capacity)
    return [concat([examples[i] for i in bin_], capacity) for bin_ in bins]


def padding_share(batches: list[PackedBatch]) -> float:
    """Share of computed tokens that are padding (0 for padding-free rows, by construction)."""
    computed = sum(b.input_ids.numel() for b in batches)
    return 0.0 if computed == 0 else 1 - sum(b.real_tokens for b in batches) / computed


def fill_share(batches: list[PackedBatch]) -> float:
    """How full the rows are relative to `capacity` (short rows use an accelerator less well)."""
    capacity = sum(b.capacity for b in batches)
    return 0.0 if capacity == 0 else sum(b.real_tokens for b in batches) / capacity
