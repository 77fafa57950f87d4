"""Reduce a per-token loss [B, T] to a scalar so that micro-batch gradient accumulation is exact.

``num_tokens`` / ``num_seqs`` are the GLOBAL counts over the whole mini-batch (all micro-batches): valid tokens, and
sequences with at least one valid token. Summing ``agg_loss`` over micro-batches (back-propagating each part) then
gives exactly the full mini-batch loss and gradient.
"""

from __future__ import annotations

import torch

AGG_MODES = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")


def global_counts(masks: list[torch.Tensor] | torch.Tensor) -> tuple[float, float]:
    """(valid tokens, sequences with >= 1 valid token) over one mask [B, T] or a list of micro-batch masks."""
    masks = [masks] if isinstance(masks, torch.Tensor) else masks
    tokens = sum(float((m > 0).sum()) for m in masks)
    seqs = sum(float(((m > 0).sum(-1) > 0).sum()) for m in masks)
    return tokens, seqs


def agg_loss(
    loss: torch.Tensor,
    mask: torch.Tensor,
    mode: str,
    *,
    num_tokens: float,
    num_seqs: float,
    norm_const: float = 1.0,
) -> torch.Tensor:
    """Scalar loss from ``loss`` [B, T] and ``mask`` [B, T] (1 = valid).

    - ``token_mean``: sum(loss * mask) / num_tokens (DAPO token-level loss).
    - ``seq_mean_token_mean``: sum_i (masked mean_t loss_i) / num_seqs (GRPO, GSPO).
    - ``seq_mean_token_sum_norm``: sum(loss * mask) / (num_seqs * norm_const) (Dr.GRPO, norm_const e.g. max length).

    Rows with no valid token contribute 0; padded positions never leak NaN/inf.
    """
    if mode not in AGG_MODES:
        raise ValueError(f"unknown loss aggregation {mode!r}; known: {list(AGG_MODES)}")
    valid = mask > 0
    masked = torch.where(valid, loss, torch.zeros_like(loss))
    if mode == "token_mean":
        return masked.sum() / max(float(num_tokens), 1.0)
    if mode == "seq_mean_token_mean":
        row = masked.sum(-1) / valid.sum(-1).clamp(min=1).to(loss.dtype)
        return row.sum() / max(float(num_seqs), 1.0)
    if norm_const <= 0:
        raise ValueError(f"seq_mean_token_sum_norm needs norm_const > 0, got {norm_const}")
    return masked.sum() / (max(float(num_seqs), 1.0) * float(norm_const))
