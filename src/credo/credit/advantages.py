"""Outcome-level advantage estimators over groups of responses to the same prompt (GRPO, Dr.GRPO, RLOO).

Every estimator maps ``rewards`` [N] and ``group_ids`` [N] (arbitrary, unsorted integer ids) to ``advantages`` [N] and
a metrics dict (``critic/baseline_fallback_frac``: share of groups whose robust centre fell back to the mean).
Statistics are computed in float64 and returned in the rewards' dtype. A group of size 1 carries no
relative signal and always gets advantage 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from credo.config import AlgoConfig
from credo.registry import Registry
from credo.trajectory import Trajectory

ADVANTAGES = Registry("advantage", "fn(rewards: Tensor[N], group_ids: LongTensor[N], cfg) -> (advantages[N], metrics)")
BASELINES = Registry("baseline", "fn(values: Tensor[n]) -> Tensor[] (the group centre)")


class FallbackCount:
    """Running counts of robust location estimates (``calls``) and of those that fell back to the plain mean
    (too few values, or a numerical failure). Robust baselines add to :data:`FALLBACKS`."""

    def __init__(self):
        self.calls = 0
        self.fallbacks = 0


FALLBACKS = FallbackCount()


@BASELINES.register("mean")
def mean_baseline(values: torch.Tensor) -> torch.Tensor:
    """Arithmetic mean of one group's rewards [n] -> 0-dim."""
    return values.mean()


def _group_index(group_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (inverse [N]: dense group index of each sample, counts [G])."""
    _, inv, counts = torch.unique(group_ids.long(), return_inverse=True, return_counts=True)
    return inv, counts


def _group_sum(x: torch.Tensor, inv: torch.Tensor, num_groups: int) -> torch.Tensor:
    return torch.zeros(num_groups, dtype=x.dtype, device=x.device).index_add_(0, inv, x)


def _group_mean(r: torch.Tensor, inv: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    return _group_sum(r, inv, len(counts)) / counts.to(r.dtype)


def _group_centre(r: torch.Tensor, inv: torch.Tensor, counts: torch.Tensor,
                  cfg: AlgoConfig) -> tuple[torch.Tensor, float]:
    """Per-group baseline [G] (vectorised for ``mean``, a per-group loop for any other registered estimator) and the
    share of groups whose robust centre fell back to the plain mean."""
    fn = BASELINES.get(cfg.baseline)
    if fn is mean_baseline:
        return _group_mean(r, inv, counts), 0.0
    before = FALLBACKS.fallbacks
    centre = torch.stack([torch.as_tensor(fn(r[inv == g]), dtype=r.dtype) for g in range(len(counts))])
    return centre, (FALLBACKS.fallbacks - before) / max(len(counts), 1)


def _group_std(r: torch.Tensor, inv: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Unbiased (Bessel-corrected, like ``torch.std``) per-group std [G]; 0 for groups of size 1."""
    dev = r - _group_mean(r, inv, counts)[inv]
    return (_group_sum(dev * dev, inv, len(counts)) / (counts - 1).clamp(min=1).to(r.dtype)).sqrt()


def _metrics(adv: torch.Tensor, zero_groups: torch.Tensor) -> dict[str, float]:
    return {
        "critic/adv_mean": float(adv.mean()),
        "critic/adv_std": float(adv.std()) if adv.numel() > 1 else 0.0,
        "critic/adv_max": float(adv.max()),
        "critic/adv_min": float(adv.min()),
        "critic/zero_std_frac": float(zero_groups.double().mean()),
        "critic/num_groups": float(zero_groups.numel()),
    }


def _prep(rewards: torch.Tensor, group_ids: torch.Tensor):
    if rewards.shape != group_ids.shape or rewards.dim() != 1:
        raise ValueError(f"rewards {tuple(rewards.shape)} and group_ids {tuple(group_ids.shape)} must be equal 1-D")
    r = rewards.double()
    inv, counts = _group_index(group_ids)
    return r, inv, counts


@ADVANTAGES.register("grpo")
def grpo(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgoConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO: ``(r - baseline) / (std + cfg.std_eps)`` with the unbiased group std; groups with std < std_eps -> 0."""
    r, inv, counts = _prep(rewards, group_ids)
    std = _group_std(r, inv, counts)
    zero = (std < cfg.std_eps) | (counts < 2)
    centre, fell_back = _group_centre(r, inv, counts, cfg)
    adv = (r - centre[inv]) / (std[inv] + cfg.std_eps)
    adv = torch.where(zero[inv], torch.zeros_like(adv), adv)
    return adv.to(rewards.dtype), _metrics(adv, zero) | {"critic/baseline_fallback_frac": fell_back}


@ADVANTAGES.register("dr_grpo")
def dr_grpo(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgoConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Dr.GRPO: ``r - baseline`` (no std division); groups of size 1 -> 0."""
    r, inv, counts = _prep(rewards, group_ids)
    centre, fell_back = _group_centre(r, inv, counts, cfg)
    adv = r - centre[inv]
    adv = torch.where((counts < 2)[inv], torch.zeros_like(adv), adv)
    zero = (_group_std(r, inv, counts) < cfg.std_eps) | (counts < 2)
    return adv.to(rewards.dtype), _metrics(adv, zero) | {"critic/baseline_fallback_frac": fell_back}


@ADVANTAGES.register("rloo")
def rloo(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgoConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """RLOO: ``r_i - mean_{j != i} r_j`` within the group; groups of size 1 -> 0. Ignores ``cfg.baseline``."""
    r, inv, counts = _prep(rewards, group_ids)
    n = counts.to(r.dtype)[inv]
    loo = (_group_sum(r, inv, len(counts))[inv] - r) / (n - 1).clamp(min=1)
    adv = torch.where(n > 1, r - loo, torch.zeros_like(r))
    zero = (_group_std(r, inv, counts) < cfg.std_eps) | (counts < 2)
    return adv.to(rewards.dtype), _metrics(adv, zero)


def compute_advantages(trajectories: Sequence[Trajectory], cfg: AlgoConfig) -> dict[str, float]:
    """Group ``t.reward`` by ``t.group_id`` via ``ADVANTAGES[cfg.advantage]``; write float ``t.advantage`` in place."""
    fn = ADVANTAGES.get(cfg.advantage)
    if not trajectories:
        return {}
    with torch.device("cpu"):  # host-side statistics on scalar rewards; the learner moves advantages to its device
        rewards = torch.tensor([float(t.reward) for t in trajectories], dtype=torch.float32)
        group_ids = torch.tensor([int(t.group_id) for t in trajectories], dtype=torch.long)
        adv, metrics = fn(rewards, group_ids, cfg)
    for t, a in zip(trajectories, adv.tolist()):
        t.advantage = float(a)
    return metrics
