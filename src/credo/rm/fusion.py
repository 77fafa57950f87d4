"""R2M's policy-feedback fusion (arXiv 2601.22664, Sec. 3): sequence-to-token cross-attention and the ω(t) mix.

The reward token's embedding (RTE, the RM's last-layer state of the last token, width ``D_rm``) is the single query;
the policy's last-layer hidden states over the query + response (width ``D_p``, any tokenizer, any length) are the
keys and values. Widths may differ: the attention has its own width ``d``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def omega(t: int, total: int, floor: float) -> float:
    """ω(t) = max(½·cos(π·t/T) + ½, Ω): 1 at t = 0 (the plain RTE), decaying to the floor Ω at t = T."""
    frac = min(max(t, 0), total) / max(total, 1)
    return max(0.5 * math.cos(math.pi * frac) + 0.5, floor)


class CrossAttention(nn.Module):
    """Single-head cross-attention from one token (query) to a sequence (keys/values).

    q = H W_q (W_q: D_rm × d), k = h W_k, v = h W_v (W_k, W_v: D_p × d), Ĥ = softmax(q kᵀ / √d) v W_o (W_o: d × D_rm).
    """

    def __init__(self, d_rm: int, d_policy: int, d: int):
        super().__init__()
        self.d = d
        self.q = nn.Linear(d_rm, d, bias=False)
        self.k = nn.Linear(d_policy, d, bias=False)
        self.v = nn.Linear(d_policy, d, bias=False)
        self.o = nn.Linear(d, d_rm, bias=False)

    def forward(self, query: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """query [B, D_rm], states [B, S, D_p], mask [B, S] (1 = real token, 0 = padding) -> Ĥ [B, D_rm].

        A row whose mask is all zero gets Ĥ = 0."""
        q = self.q(query).unsqueeze(1)  # [B, 1, d]
        k, v = self.k(states), self.v(states)  # [B, S, d]
        scores = (q @ k.transpose(1, 2)).squeeze(1) / math.sqrt(self.d)  # [B, S]
        keep = mask.bool()
        scores = scores.masked_fill(~keep, float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        attn = torch.where(keep.any(-1, keepdim=True), attn, torch.zeros_like(attn))  # all-padding row: no NaN
        return self.o((attn.unsqueeze(1) @ v).squeeze(1))


def mix(h_last: torch.Tensor, h_hat: torch.Tensor, w: float) -> torch.Tensor:
    """H_fin = (1 − ω)·Ĥ + ω·H_last."""
    return (1.0 - w) * h_hat + w * h_last
