"""Weighted next-token loss, normalised by the supervised tokens of the whole optimizer step.

With gradient accumulation, averaging each micro-batch's mean would weight a short micro-batch's
tokens more than a long one's. Each micro-batch instead returns its weighted *sum* divided by the
total supervised weight of all micro-batches of the step (known before the step starts), so the
accumulated gradient equals that of one big batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(label) per position; 0 where the label is -100."""
    safe = labels.clamp_min(0)
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return logp * (labels != -100)


def weighted_loss_sum(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    ce = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=-100,
        reduction="none",
    )
    return (ce * weights.reshape(-1)).sum()


def step_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, step_weight_total: float
) -> torch.Tensor:
    """This micro-batch's share of the step's loss (sum over the step == weighted mean)."""
    return weighted_loss_sum(logits, labels, weights) / max(step_weight_total, 1e-12)
