"""CBS rollout selection for one RL step: buffer → features → scheduler scores → the subset that trains.

Each RL step t (``select``): the fresh rollouts of round t (advantages already computed on their full groups) enter
the FIFO buffer; the candidates are the fresh round (``cbs.mode=intra``) or the whole buffer (``global``); their
log-probs and entropies are recomputed under the current policy; the *previous* selection receives its arm reward,
one step late,

    R_{t−1} = (V_t − V_{t−1}) − w_e · 1[E_{t−1} > e_min] · (E_t − E_{t−1}),

with V the mean raw verifier score and E the mean token entropy of a round's fresh rollouts under the policy that
generated them [paper, formula as reported]; the scheduler scores the normalised features; the top p% of each group
(intra) or the top K of the buffer (global) are kept. During the first ``cbs.warmup_rounds`` rounds a learning
scheduler selects uniformly at random (its labels still train it). e_min = ``cbs.e_min_frac`` × the first round's
entropy [recon]. Every chosen rollout of a round gets the same label (semi-bandit shared feedback [recon]).
"""

from __future__ import annotations

import math

import torch

from credo.selection.buffer import RolloutBuffer, Stored
from credo.selection.features import clip_ratio, normalise, policy_stats, raw_features
from credo.selection.schedulers import SCHEDULERS
from credo.trajectory import Trajectory

MODES = ("intra", "global")


def arm_reward(v_prev: float, e_prev: float, v: float, e: float, w_e: float, e_min: float) -> float:
    """(V_t − V_{t−1}) − w_e · 1[E_{t−1} > e_min] · (E_t − E_{t−1}): the gain credited to the selection of t − 1."""
    return (v - v_prev) - (w_e * (e - e_prev) if e_prev > e_min else 0.0)


def keep_count(n: int, frac: float) -> int:
    """Rollouts kept of a group of ``n`` in intra mode: round(frac · n), at least 1."""
    return max(1, math.floor(frac * n + 0.5))


class RolloutSelector:
    """Holds the buffer, the scheduler (``SCHEDULERS[name]``), its random generator and the pending label.

    ``cfg`` is the ``cbs`` config section; ``eps_low``/``eps_high`` define the clip ratio feature; ``max_new_tokens``
    is L_max of the length feature. All state round-trips through ``state_dict`` (exact resume).
    """

    def __init__(self, name: str, cfg, max_new_tokens: int, eps_low: float, eps_high: float, seed: int):
        if cfg.mode not in MODES:
            raise ValueError(f"cbs.mode must be one of {MODES}, got {cfg.mode!r}")
        self.cfg, self.max_new_tokens, self.eps = cfg, max_new_tokens, (eps_low, eps_high)
        self.scheduler = SCHEDULERS.get(name)(cfg, seed)
        self.buffer = RolloutBuffer(cfg.buffer_rounds)
        self.gen = torch.Generator(device="cpu").manual_seed(seed * 1_000_033 + 17)
        self.rounds = 0
        self.pending: dict | None = None  # features [K, 10] and mean predicted gain of the last selection
        self.prev: tuple[float, float] | None = None  # (V, E) of the last round
        self.e_min: float | None = None
        self.last: dict = {}  # the last round's candidates, scores and chosen indices (for analysis; not saved)

    def select(self, fresh: list[Trajectory], step: int, learner) -> tuple[list[Trajectory], dict[str, float]]:
        """The rollouts to train on at RL step ``step`` (fresh and buffered), and ``cbs/...`` metrics."""
        cfg = self.cfg
        new = self.buffer.push(step, fresh)
        cands = self.buffer.entries if cfg.mode == "global" else new
        lps, mean_lp, mean_ent = policy_stats(learner, [e.traj for e in cands])
        for i, e in enumerate(cands):
            if e.trained_logprobs is not None:  # trained on last round: its ratio new/old, measured now
                e.clip_ratio = clip_ratio(lps[i], e.trained_logprobs, e.traj.loss_mask, *self.eps)
                e.trained_logprobs = None
        metrics: dict[str, float] = {}
        if new:
            v = sum(e.traj.score for e in new) / len(new)
            e_now = float(mean_ent[len(cands) - len(new):].mean())  # the fresh entries come last
            if self.e_min is None:
                self.e_min = cfg.e_min_frac * e_now
            metrics |= {"cbs/V": v, "cbs/E": e_now, "cbs/e_min": self.e_min}
            if self.pending is not None and self.prev is not None:
                gain = arm_reward(*self.prev, v, e_now, cfg.w_e, self.e_min)
                metrics |= {"cbs/realised_gain": gain} | self.scheduler.observe(self.pending["x"], gain, self.gen)
                if self.pending["pred"] is not None:
                    metrics["cbs/predicted_gain"] = self.pending["pred"]
            self.prev = (v, e_now)
        x = normalise(raw_features(cands, step, mean_lp, mean_ent, self.max_new_tokens))
        warm = self.scheduler.learns and self.rounds < cfg.warmup_rounds
        if warm:
            scores = torch.rand(len(cands), generator=self.gen, dtype=torch.float64, device="cpu")
            pred = bonus = None
        else:
            scores, pred, bonus = self.scheduler.score(x, cands, self.gen)
        idx = self.pick(cands, scores, len(new))
        self.last = {"entries": cands, "scores": scores, "chosen": idx, "warmup": warm}
        self.scheduler.chosen(x[idx])
        metrics |= self.metrics(cands, idx, step, warm, bonus)
        for i in idx.tolist():
            cands[i].usage += 1
            cands[i].trained_logprobs = lps[i]
        self.pending = {"x": x[idx], "pred": float(pred[idx].mean()) if pred is not None and len(idx) else None}
        self.rounds += 1
        return [cands[i].traj for i in idx.tolist()], metrics

    def pick(self, cands: list[Stored], scores: torch.Tensor, n_fresh: int) -> torch.Tensor:
        """Candidate indices kept (ascending): top ``keep_frac`` of each group (intra) or the top K overall
        (global; K = ``cbs.top_k``, 0 = the size of one fresh round). Ties keep the earlier candidate."""
        order = torch.sort(scores, descending=True, stable=True).indices.tolist()
        if self.cfg.mode == "global":
            k = min(self.cfg.top_k or n_fresh, len(cands))
            return torch.tensor(sorted(order[:k]), dtype=torch.long, device="cpu")
        size: dict[int, int] = {}
        for e in cands:
            size[e.traj.group_id] = size.get(e.traj.group_id, 0) + 1
        taken: dict[int, int] = {}
        keep = []
        for i in order:
            g = cands[i].traj.group_id
            if taken.get(g, 0) < keep_count(size[g], self.cfg.keep_frac):
                taken[g] = taken.get(g, 0) + 1
                keep.append(i)
        return torch.tensor(sorted(keep), dtype=torch.long, device="cpu")

    def metrics(self, cands: list[Stored], idx: torch.Tensor, step: int, warm: bool,
                bonus: torch.Tensor | None) -> dict[str, float]:
        """Chosen fraction by age and by source (``t.info["source"]``, default ``sample``), sizes, and the chosen
        set's mean reward, |advantage|, usage (before this selection) and exploration term."""
        chosen = set(idx.tolist())
        out = {"cbs/candidates": float(len(cands)), "cbs/chosen": float(len(chosen)),
               "cbs/buffer_size": float(len(self.buffer)), "cbs/warmup": float(warm)}
        groups: dict[str, list[bool]] = {}
        for i, e in enumerate(cands):
            groups.setdefault(f"cbs/chosen_frac/age_{e.age(step)}", []).append(i in chosen)
            groups.setdefault(f"cbs/chosen_frac/source_{e.traj.info.get('source', 'sample')}", []).append(i in chosen)
        out |= {k: sum(v) / len(v) for k, v in sorted(groups.items())}
        picked = [cands[i] for i in sorted(chosen)]
        if picked:
            adv = [float(e.traj.advantage.float().abs().mean()) if torch.is_tensor(e.traj.advantage)
                   else abs(float(e.traj.advantage)) for e in picked]
            out |= {"cbs/chosen_reward_mean": sum(e.traj.reward for e in picked) / len(picked),
                    "cbs/chosen_abs_adv_mean": sum(adv) / len(adv),
                    "cbs/chosen_usage_mean": sum(e.usage for e in picked) / len(picked),
                    "cbs/chosen_clip_ratio_mean": sum(e.clip_ratio for e in picked) / len(picked)}
            if bonus is not None:
                out["cbs/explore_bonus_mean"] = float(bonus[idx].mean())
        return out

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "gen": self.gen.get_state(), "rounds": self.rounds, "pending": self.pending,
                "prev": list(self.prev) if self.prev is not None else None, "e_min": self.e_min}

    def load_state_dict(self, s: dict) -> None:
        self.buffer.load_state_dict(s["buffer"])
        self.scheduler.load_state_dict(s["scheduler"])
        self.gen.set_state(s["gen"])
        self.rounds, self.pending, self.e_min = s["rounds"], s["pending"], s["e_min"]
        self.prev = tuple(s["prev"]) if s["prev"] is not None else None


def build_selector(cfg) -> RolloutSelector | None:
    """The selector a run config asks for (``algo.scheduler``; None when empty: train on every rollout)."""
    if not cfg.algo.scheduler:
        return None
    return RolloutSelector(cfg.algo.scheduler, cfg.cbs, cfg.sampling.max_new_tokens, cfg.algo.eps_low,
                           cfg.algo.eps_high, cfg.train.seed)
