"""Clipped policy-gradient losses: PPO-clip (token ratio), GSPO (sequence ratio) and GSPO-token.

Every entry maps ``logprobs``, ``old_logprobs``, ``advantages`` and ``mask`` (all [B, T]; mask 1 = valid token) to a
per-token loss [B, T] to *minimise* (0 at masked positions) plus float metrics. Reduce it with
``credo.losses.agg_loss``. Ratios are computed in log space and the log-ratio is clamped to ``±cfg.log_ratio_clamp``.
"""

from __future__ import annotations

import torch

from credo.config import AlgoConfig
from credo.registry import Registry

POLICY_LOSSES = Registry(
    "policy loss",
    "fn(logprobs[B,T], old_logprobs[B,T], advantages[B,T], mask[B,T], cfg) -> (loss[B,T] to minimise, metrics)",
)

Metrics = dict[str, float]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` > 0 (0 if there are none); any broadcastable shapes."""
    m = (mask > 0).expand_as(x)
    return torch.where(m, x, torch.zeros_like(x)).sum() / m.sum().clamp(min=1)


def masked_where(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``x`` at valid positions, 0 elsewhere (NaN/inf padding never leaks into sums or gradients)."""
    return torch.where(mask > 0, x, torch.zeros_like(x))


def seq_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over the last dim: [B, T] -> [B] (0 for rows with no valid token)."""
    return masked_where(mask, x).sum(-1) / (mask > 0).sum(-1).clamp(min=1).to(x.dtype)


def _inputs(logprobs, old_logprobs, advantages, mask):
    """Zero every input at padded positions so NaN/inf padding reaches neither values nor gradients."""
    return masked_where(mask, logprobs), masked_where(mask, old_logprobs), masked_where(mask, advantages)


def ppo_clip_surrogate(ratio: torch.Tensor, adv: torch.Tensor, cfg: AlgoConfig):
    """PPO clipped surrogate, elementwise on any shape.

    -> (loss = max(-A r, -A clip(r, 1-eps_low, 1+eps_high)), optionally min(., -c A) for A < 0; boolean masks
    clipped_low (A < 0, r < 1-eps_low), clipped_high (A > 0, r > 1+eps_high), dual (dual clip active)).
    """
    pg1 = -adv * ratio
    pg2 = -adv * ratio.clamp(1.0 - cfg.eps_low, 1.0 + cfg.eps_high)
    loss = torch.maximum(pg1, pg2)
    clipped = pg2 > pg1
    low, high = clipped & (ratio < 1.0), clipped & (ratio > 1.0)
    dual = torch.zeros_like(clipped)
    if cfg.dual_clip:
        if cfg.dual_clip <= 1.0:
            raise ValueError(f"algo.dual_clip must be > 1 (or 0 = off), got {cfg.dual_clip}")
        pg3 = -adv * cfg.dual_clip
        dual = (adv < 0) & (loss > pg3)
        loss = torch.where(dual, pg3, loss)
    return loss, low, high, dual


def _metrics(low, high, dual, ratio, unit_mask, log_ratio, token_mask, cfg: AlgoConfig) -> Metrics:
    """Clip statistics are means over ``unit_mask`` (tokens or sequences); ppo_kl is a token mean of old - new."""
    with torch.no_grad():
        out = {
            "actor/clipfrac": float(masked_mean((low | high).double(), unit_mask)),
            "actor/clipfrac_low": float(masked_mean(low.double(), unit_mask)),
            "actor/clipfrac_high": float(masked_mean(high.double(), unit_mask)),
            "actor/ppo_kl": float(masked_mean(-log_ratio.double(), token_mask)),
            "actor/ratio_mean": float(masked_mean(ratio.double(), unit_mask)),
        }
        if cfg.dual_clip:
            out["actor/dual_clip_frac"] = float(masked_mean(dual.double(), unit_mask))
    return out


@POLICY_LOSSES.register("ppo_clip")
def ppo_clip(logprobs, old_logprobs, advantages, mask, cfg: AlgoConfig) -> tuple[torch.Tensor, Metrics]:
    """Token-level PPO/GRPO/DAPO clip: r_t = exp(clamp(logp - old)) clipped to [1-eps_low, 1+eps_high]; dual clip."""
    logprobs, old_logprobs, advantages = _inputs(logprobs, old_logprobs, advantages, mask)
    log_ratio = masked_where(mask, logprobs - old_logprobs)
    ratio = torch.exp(log_ratio.clamp(-cfg.log_ratio_clamp, cfg.log_ratio_clamp))
    loss, low, high, dual = ppo_clip_surrogate(ratio, advantages, cfg)
    return masked_where(mask, loss), _metrics(low, high, dual, ratio, mask, log_ratio, mask, cfg)


@POLICY_LOSSES.register("gspo")
def gspo(logprobs, old_logprobs, advantages, mask, cfg: AlgoConfig) -> tuple[torch.Tensor, Metrics]:
    """GSPO: s_i = exp(clamp(masked mean_t (logp - old))) [B], clipped per sequence.

    The sequence advantage is the masked mean of ``advantages`` over the row (= A_i for outcome advantages). The
    per-sequence loss [B] is broadcast to every valid token, so ``seq_mean_token_mean`` gives the GSPO objective.
    Clip fractions and ratio_mean are per sequence (rows with at least one valid token).
    """
    logprobs, old_logprobs, advantages = _inputs(logprobs, old_logprobs, advantages, mask)
    log_ratio = masked_where(mask, logprobs - old_logprobs)
    seq_log_ratio = seq_mean(log_ratio, mask).clamp(-cfg.log_ratio_clamp, cfg.log_ratio_clamp)
    s = torch.exp(seq_log_ratio)
    loss_seq, low, high, dual = ppo_clip_surrogate(s, seq_mean(advantages, mask), cfg)
    loss = masked_where(mask, loss_seq.unsqueeze(-1).expand_as(logprobs))
    seq_mask = ((mask > 0).sum(-1) > 0).to(logprobs.dtype)
    return loss, _metrics(low, high, dual, s, seq_mask, log_ratio, mask, cfg)


def _robustseq_mean(log_ratio: torch.Tensor, mask: torch.Tensor, method: str, fallback: torch.Tensor) -> torch.Tensor:
    """Per-row robust location of the valid token log-ratios [B, T] → [B]; rows with < 10 tokens keep ``fallback``."""
    from credo.credit.robust_mean import robust_mean

    out = fallback.clone()
    faithful = method != "are_clean"
    for i in range(log_ratio.shape[0]):
        vals = log_ratio[i][mask[i] > 0]
        if vals.numel() >= 10:
            out[i] = robust_mean(vals, "are" if method.startswith("are") else method, faithful)
    return out


@POLICY_LOSSES.register("gspo_token")
def gspo_token(logprobs, old_logprobs, advantages, mask, cfg: AlgoConfig) -> tuple[torch.Tensor, Metrics]:
    """GSPO-token: log s_{i,t} = logp - sg(logp) + sg(masked mean log-ratio), clamped, clipped per token.

    Equal to ``gspo`` in value, and in gradient when A is constant over a sequence; admits per-token advantages.
    ``cfg.seq_ratio_estimator`` other than ``mean`` replaces the (detached) mean token log-ratio by a robust
    estimate (ARE hook b); rows with fewer than 10 valid tokens keep the mean.
    """
    logprobs, old_logprobs, advantages = _inputs(logprobs, old_logprobs, advantages, mask)
    log_ratio = masked_where(mask, logprobs - old_logprobs)
    seq_log_ratio = seq_mean(log_ratio, mask).detach()
    if cfg.seq_ratio_estimator != "mean":
        seq_log_ratio = _robustseq_mean(log_ratio.detach(), mask, cfg.seq_ratio_estimator, seq_log_ratio)
    log_s = logprobs - logprobs.detach() + seq_log_ratio.unsqueeze(-1)
    ratio = torch.exp(log_s.clamp(-cfg.log_ratio_clamp, cfg.log_ratio_clamp))
    loss, low, high, dual = ppo_clip_surrogate(ratio, advantages, cfg)
    return masked_where(mask, loss), _metrics(low, high, dual, ratio, mask, log_ratio, mask, cfg)
