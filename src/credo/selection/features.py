"""CBS rollout features: 10 numbers per candidate rollout, z-normalised per round.

Columns (``FEATURES``): the paper confirms reward, entropy, clip ratio, length, truncation, age and usage count as
features of a 10-dimensional vector [2nd-hand summaries]; the group advantage, group accuracy and mean log-prob
columns and the per-round z-normalisation are reconstructed (docs/cbs.md).
"""

from __future__ import annotations

import torch

from credo.selection.buffer import Stored

FEATURES = ("reward", "advantage", "group_acc", "entropy", "clip_ratio", "length", "truncated", "age", "usage",
            "logprob")


@torch.no_grad()
def policy_stats(learner, trajs) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Log-probs of every response token under the learner's *current* policy, and per-rollout means.

    -> (per-rollout log-probs [T_i] on CPU, mean token log-prob [N], mean token entropy (nats) [N]); means run over
    the response tokens (0 for an empty response). One no-grad forward per micro-batch.
    """
    learner.activate()
    lps: list[torch.Tensor] = []
    mean_lp, mean_ent = [], []
    for rows in learner.micro_batches(list(trajs)):
        lp, rmask, ent = learner.logprobs(learner.model, rows, with_entropy=True)
        n = rmask.sum(-1).clamp(min=1)
        mean_lp.append(((lp * rmask).sum(-1) / n).cpu())
        mean_ent.append(((ent * rmask).sum(-1) / n).cpu())
        lps += [lp[i, : t.num_tokens].cpu() for i, t in enumerate(rows)]
    if not lps:
        return [], torch.zeros(0, device="cpu"), torch.zeros(0, device="cpu")
    return lps, torch.cat(mean_lp).double(), torch.cat(mean_ent).double()


def clip_ratio(now: torch.Tensor, before: torch.Tensor, mask: torch.Tensor, eps_low: float, eps_high: float) -> float:
    """Fraction of masked tokens whose ratio exp(now − before) lies outside [1 − eps_low, 1 + eps_high] (0 if no
    token is masked in)."""
    ratio = torch.exp(now.double() - before.double())
    out = (ratio < 1 - eps_low) | (ratio > 1 + eps_high)
    m = mask > 0
    return float(out[m].double().mean()) if bool(m.any()) else 0.0


def raw_features(entries: list[Stored], step: int, mean_logprob: torch.Tensor, mean_entropy: torch.Tensor,
                 max_new_tokens: int) -> torch.Tensor:
    """The un-normalised feature matrix [N, 10] (float64) of ``entries`` at RL step ``step``: reward, stored group
    advantage, group accuracy, mean token entropy, last clip ratio, length / max_new_tokens, truncated (1 when the
    response hit max_new_tokens), age in steps, usage count, mean token log-prob."""
    rows = []
    for i, e in enumerate(entries):
        t = e.traj
        adv = float(t.advantage.float().mean()) if torch.is_tensor(t.advantage) else float(t.advantage)
        rows.append([float(t.reward), adv, e.group_acc, float(mean_entropy[i]), e.clip_ratio,
                     t.num_tokens / max_new_tokens, float(t.finish_reason == "length"), float(e.age(step)),
                     float(e.usage), float(mean_logprob[i])])
    return torch.tensor(rows, dtype=torch.float64, device="cpu").reshape(len(entries), len(FEATURES))


def normalise(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-round z-score of each column: (x − mean) / std with the population std; a constant column becomes 0."""
    mean = x.mean(0, keepdim=True)
    std = x.std(0, unbiased=False, keepdim=True) if x.shape[0] > 0 else torch.ones_like(mean)
    return torch.where(std > eps, (x - mean) / std.clamp(min=eps), torch.zeros_like(x))
