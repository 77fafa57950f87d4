"""HACPO credit: a per-agent capability tracker and the capability-aware joint-group advantage.

Capability ``P_k`` is agent k's batch statistic (mean reward, or share of positive rewards) averaged over the last K
steps and floored; ``omega(k, j) = P_k / P_j`` clipped to ``[omega_min, omega_max]`` (1 during the first ``warmup``
steps).

For learner k and one prompt, the joint group holds the n·G rewards of all agents. The baseline rescales every other
agent's rewards to k's level, ``mu_k = mean_i omega(k, src_i) R_i`` (omega(k, k) = 1), the scale is the joint std,
and the *learner's* advantage ``A_k = (R - mu_k) / (std_joint + eps)`` is used on self and cross samples alike
(the code's form and App. Eq. 50 of the paper, not Eq. 10's omega(j, k) A^(j)).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import torch


class CapabilityTracker:
    """Moving window of each agent's per-step statistic → capabilities P [n] and the ratio matrix omega [n, n]."""

    def __init__(self, names: Sequence[str], window: int = 5, floor: float = 1e-8, omega_min: float = 0.1,
                 omega_max: float = 10.0, warmup: int = 0, stat: str = "mean"):
        if window < 1:
            raise ValueError(f"hacpo.window must be >= 1, got {window}")
        if stat not in ("mean", "positive"):
            raise ValueError(f"hacpo.stat must be mean or positive, got {stat!r}")
        if not 0 < omega_min <= 1 <= omega_max:
            raise ValueError(f"need 0 < omega_min <= 1 <= omega_max, got [{omega_min}, {omega_max}]")
        self.names = list(names)
        self.window, self.floor, self.lo, self.hi, self.warmup, self.stat = \
            window, floor, omega_min, omega_max, warmup, stat
        self.history: dict[str, deque[float]] = {n: deque(maxlen=window) for n in self.names}
        self.steps = 0

    def batch_stat(self, rewards: Sequence[float]) -> float:
        """One step's statistic of one agent's rewards: their mean, or the share that is > 0."""
        if not rewards:
            return 0.0
        if self.stat == "positive":
            return sum(r > 0 for r in rewards) / len(rewards)
        return sum(rewards) / len(rewards)

    def update(self, rewards: dict[str, Sequence[float]]) -> None:
        """Record one step: ``rewards[name]`` are that agent's rewards of the step (every agent must be present)."""
        for n in self.names:
            self.history[n].append(self.batch_stat(list(rewards[n])))
        self.steps += 1

    def capability(self, name: str) -> float:
        """P = max(mean of the window, floor) (the floor before any step)."""
        h = self.history[name]
        return max(sum(h) / len(h), self.floor) if h else self.floor

    def omega(self, k: str, j: str) -> float:
        """omega(k, j) = P_k / P_j clipped; 1 while at most ``warmup`` steps were recorded (the reference code's
        ``steps <= warmup_steps``: with warmup=0 only before the first step)."""
        if self.steps <= self.warmup or k == j:
            return 1.0
        return min(max(self.capability(k) / self.capability(j), self.lo), self.hi)

    def matrix(self) -> torch.Tensor:
        """omega [n, n] in ``names`` order: entry (k, j) = omega(k, j)."""
        return torch.tensor([[self.omega(k, j) for j in self.names] for k in self.names], dtype=torch.float64)

    def metrics(self) -> dict[str, float]:
        out = {f"hacpo/{n}/capability": self.capability(n) for n in self.names}
        for k in self.names:
            for j in self.names:
                if k != j:
                    out[f"hacpo/omega/{k}/{j}"] = self.omega(k, j)
        return out

    def state_dict(self) -> dict:
        return {"history": {n: list(h) for n, h in self.history.items()}, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        for n in self.names:
            self.history[n] = deque(state["history"][n], maxlen=self.window)


def joint_advantages(rewards: torch.Tensor, group_ids: torch.Tensor, sources: torch.Tensor, learner: int,
                     omega: torch.Tensor | None, eps: float = 1e-6) -> tuple[torch.Tensor, dict[str, float]]:
    """Learner ``learner``'s advantages over joint groups.

    rewards [N], group_ids [N], sources [N] (agent index of each sample), omega [n, n] (None = plain joint mean:
    the Naive arm and the no-capability ablation). Per group: baseline ``mu = mean_i omega[learner, src_i] R_i``;
    guards: all rewards equal → plain mean (advantage 0); ``mu > 1`` → the learner's own samples' mean (or the plain
    mean if the group has none). Scale: the joint unbiased std (like ``torch.std``; 0 for one sample).
    -> (advantages [N] float64, metrics: ``baseline_mean``, ``guard_uniform``, ``guard_over_one`` fractions).
    """
    r = rewards.double()
    adv = torch.zeros_like(r)
    base_sum, uniform, over, groups = 0.0, 0, 0, torch.unique(group_ids)
    for g in groups.tolist():
        idx = (group_ids == g).nonzero().squeeze(-1)
        rg, sg = r[idx], sources[idx]
        plain = rg.mean()
        if bool((rg == rg[0]).all()):
            mu = plain
            uniform += 1
        elif omega is None:
            mu = plain
        else:
            mu = (omega[learner].double()[sg] * rg).mean()
            if float(mu) > 1.0:
                own = rg[sg == learner]
                mu = own.mean() if own.numel() else plain
                over += 1
        std = rg.std() if rg.numel() > 1 else torch.zeros((), dtype=r.dtype)
        adv[idx] = (rg - mu) / (std + eps)
        base_sum += float(mu)
    n = max(len(groups), 1)
    return adv, {"hacpo/baseline_mean": base_sum / n, "hacpo/guard_uniform": uniform / n,
                 "hacpo/guard_over_one": over / n}
