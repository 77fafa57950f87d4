"""GREBT, R2M's per-step reward-model loss (arXiv 2601.22664, Sec. 3.3): Bradley-Terry on the best and worst
response of each group plus the group reward entropy (GRE)."""

from __future__ import annotations

import torch

from credo.rewards.bt import bt_loss  # the one Bradley-Terry loss; re-exported for credo.rm


def gre(rewards: torch.Tensor, std_eps: float = 1e-6) -> torch.Tensor:
    """Group reward entropy of one group's rewards [K]: −Σ p log p with p = softmax((r − mean) / (std + eps)).

    Guard: a group whose std (unbiased) is below ``std_eps`` returns 0 with no gradient (the paper's gradient is 0
    there anyway; standardising would divide by ~0)."""
    std = rewards.std() if rewards.numel() > 1 else rewards.new_zeros(())
    if float(std.detach()) < std_eps:
        return (rewards * 0).sum()
    z = (rewards - rewards.mean()) / (std + std_eps)
    logp = torch.log_softmax(z, dim=-1)
    return -(logp.exp() * logp).sum()


def best_worst(scores: list[float], groups: list[int]) -> list[tuple[int, int]]:
    """(best, worst) row indices of each group by ``scores`` (the annotation rewards), groups in first-seen order;
    ties go to the first row. Groups whose scores are all equal give no pair."""
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out = []
    for rows in members.values():
        best = max(rows, key=lambda i: (scores[i], -i))
        worst = min(rows, key=lambda i: (scores[i], i))
        if scores[best] > scores[worst]:
            out.append((best, worst))
    return out


def grebt_loss(rewards: torch.Tensor, groups: list[int], annotation: list[float], alpha: float,
               std_eps: float = 1e-6) -> tuple[torch.Tensor, dict[str, float]]:
    """(1 − α)·L_BT + α·L_GRE over a batch: ``rewards`` [N] recomputed (with gradient), ``groups`` [N] group ids,
    ``annotation`` [N] the rewards that ranked the rollout (pick best/worst). L_BT averages the groups' pairs, L_GRE
    the groups' entropies. -> (loss, metrics)."""
    pairs = best_worst(annotation, groups)
    zero = rewards.sum() * 0
    bt = bt_loss(rewards[[w for w, _ in pairs]], rewards[[lo for _, lo in pairs]]) if pairs else zero
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    ents = [gre(rewards[idx], std_eps) for idx in members.values()]
    ent = torch.stack(ents).mean() if ents else zero
    loss = (1 - alpha) * bt + alpha * ent
    return loss, {"rm/bt_loss": float(bt.detach()), "rm/gre": float(ent.detach()), "rm/pairs": float(len(pairs))}
