"""HACPO's per-sequence loss over a learner's pool of self and cross (other agents') samples.

It does not fit the ``POLICY_LOSSES`` signature: a cross sample's "old" policy is another agent (only its
rollout-time mean log-prob is known, in its own tokenizer's space), its clip range depends on the mini-batch index m,
and it carries a capability weight. So this is a plain function.

For learner k and a row i (all tensors [B] unless noted):

- sequence ratio ``s = exp(clamp(mean_t logpi_k(y_t) - old_mean, ±log_ratio_clamp))``, where ``old_mean`` is the
  learner's own old mean log-prob for a self row and the source's stored rollout mean log-prob for a cross row;
- self rows: GSPO, ``max(-A s, -A clip(s, 1 - eps_low, 1 + eps_high))``;
- cross rows (HACPO): ``c = clip(s, lower, 1)`` with ``lower = 1 - delta + m * delta_step``, loss
  ``-c * sg(c)^alpha * w * A`` (w = omega(src, k)); its gradient is ``-w A c^alpha s grad(mean_t logpi)`` inside
  the range (``s^(1+alpha)`` there) and 0 outside, so rows below ``lower`` are discarded and none is up-weighted;
- cross rows (Naive): the symmetric PPO clip ``max(-A s, -A clip(s, 1 - eps, 1 + eps))``, no weight, no IS power.
"""

from __future__ import annotations

import torch

from credo.config import AlgoConfig
from credo.losses.policy import masked_where, ppo_clip_surrogate, seq_mean


def cross_lower_bound(m: int, delta: float, delta_step: float, stepwise: bool = True) -> float:
    """Lower clip bound of cross rows in the m-th mini-batch update of a step (m resets every step), at most 1."""
    return min(1.0 - delta + (m * delta_step if stepwise else 0.0), 1.0)


def hacpo_loss(logprobs: torch.Tensor, mask: torch.Tensor, old_mean: torch.Tensor, advantages: torch.Tensor,
               cross: torch.Tensor, weight: torch.Tensor, lower: float, algo: AlgoConfig, alpha: float = 1.0,
               naive_eps: float | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-sequence loss [B] to minimise, plus per-row diagnostics.

    logprobs [B, T] (learner, with grad), mask [B, T] (1 = valid), old_mean [B], advantages [B], cross [B] bool,
    weight [B] (used on cross rows), lower: the cross lower bound; ``naive_eps`` set = the Naive cross loss.
    -> (loss [B] (0 for rows without valid tokens), {"ratio": s [B], "low": [B] bool, "high": [B] bool, "live": [B]
    bool}) where low / high mark rows whose ratio was clipped at the lower / upper bound (self: only where the clip
    binds, as PPO) and ``live`` marks cross rows whose loss has a non-zero gradient (inside the clip range, or on the
    side PPO's min keeps for Naive; non-zero advantage and weight).
    """
    lp = masked_where(mask, logprobs)
    seq = seq_mean(lp, mask) - old_mean.to(lp.dtype)
    s = torch.exp(seq.clamp(-algo.log_ratio_clamp, algo.log_ratio_clamp))
    adv = advantages.to(lp.dtype)
    self_loss, s_low, s_high, _ = ppo_clip_surrogate(s, adv, algo)
    if naive_eps is None:
        c = s.clamp(lower, 1.0)
        cross_loss = -c * c.detach().pow(alpha) * weight.to(lp.dtype) * adv
        c_low, c_high = s < lower, s > 1.0
        live = ~c_low & ~c_high & (weight != 0)
    else:
        sym = AlgoConfig(eps_low=naive_eps, eps_high=naive_eps)
        cross_loss, _, _, _ = ppo_clip_surrogate(s, adv, sym)
        c_low, c_high = s < 1.0 - naive_eps, s > 1.0 + naive_eps
        live = ~((adv > 0) & c_high) & ~((adv < 0) & c_low)   # PPO's min drops only the side that binds
    loss = torch.where(cross, cross_loss, self_loss)
    valid = (mask > 0).any(-1)
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    live = live & (adv != 0) & valid
    info = {"ratio": s.detach(), "low": torch.where(cross, c_low, s_low), "high": torch.where(cross, c_high, s_high),
            "live": live}
    return loss, info
