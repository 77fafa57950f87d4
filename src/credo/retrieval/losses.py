"""Contrastive and facet-alignment losses (UniFAR's L = w_dd L_dd + w_qd L_qd + w_kl L_KL; weights reconstructed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(
    scores: torch.Tensor, labels: torch.Tensor, temperature: float = 0.05, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """scores (B, N) query×candidate, labels (B,) index of each row's positive; mask (B, N) True = drop candidate
    (known relevant in-batch documents other than the positive). Mean over rows of -log softmax(scores / T)[label]."""
    logits = scores / temperature
    if mask is not None:
        keep = F.one_hot(labels, scores.shape[1]).bool()
        logits = logits.masked_fill(mask & ~keep, float("-inf"))
    return F.cross_entropy(logits, labels)


def facet_kl(p: torch.Tensor, target: torch.Tensor, smooth: float = 0.1, eps: float = 1e-8) -> torch.Tensor:
    """KL(p ‖ t) averaged over rows; p, target (B, K); t = (1-smooth)·target + smooth/K keeps log t finite."""
    k = target.shape[-1]
    t = (1 - smooth) * target + smooth / k
    return (p * ((p + eps).log() - t.log())).sum(-1).mean()
