"""One HACPO policy update of a learner on its pool: self samples first, then cross samples.

The pool (self rows, then re-tokenised cross rows, advantages set) is cut *in that order* into
``train.mini_batches`` contiguous mini-batches per epoch; m counts the optimizer steps of this call (it resets every
RL step), so later mini-batches, which hold the cross rows, get the tighter lower clip bound
``1 - delta + m * delta_step``. Each mini-batch loss is the mean over its sequences (micro-batch accumulation is
exact), plus ``algo.kl_coef`` times each row's mean k3 KL when the learner has a reference.
"""

from __future__ import annotations

import math

import torch

from credo.config import HACPOConfig
from credo.losses import kl_k3
from credo.losses.hacpo import cross_lower_bound, hacpo_loss
from credo.losses.policy import seq_mean
from credo.train.learner import Learner
from credo.trajectory import Trajectory


def attach_old(learner: Learner, own: list[Trajectory], cross: list[Trajectory]) -> None:
    """Old log-probs of the learner's own rows (when it takes several optimizer steps) and reference log-probs."""
    learner.attach_logprobs(own)
    if learner.has_reference:
        learner.attach_logprobs(cross)


def _micro_loss(learner: Learner, rows: list[Trajectory], lower: float, h: HACPOConfig, naive: bool, n_seq: float):
    lp, rmask, _ = learner.logprobs(learner.model, rows)
    dev = lp.device
    mask = rmask * learner.pad([t.loss_mask for t in rows])
    cross = torch.tensor([bool(t.info.get("cross")) for t in rows], device=dev)
    if learner.recompute_old:
        old_tok = learner.pad([t.info.get("old_logprobs", torch.zeros(t.num_tokens)) for t in rows])
    else:
        old_tok = lp.detach()
    src = torch.tensor([float(t.info.get("source_mean_logp", 0.0)) for t in rows], device=dev)
    old_mean = torch.where(cross, src, seq_mean(old_tok, mask))
    adv = torch.tensor([float(t.advantage) for t in rows], device=dev)
    weight = torch.tensor([float(t.info.get("weight", 1.0)) for t in rows], device=dev)
    loss_seq, info = hacpo_loss(lp, mask, old_mean, adv, cross, weight, lower, learner.algo, h.alpha,
                                h.naive_eps if naive else None)
    if learner.has_reference:
        kl = kl_k3(lp, learner.pad([t.info["ref_logprobs"] for t in rows]))
        loss_seq = loss_seq + learner.algo.kl_coef * seq_mean(kl, mask)
        info["kl"] = seq_mean(kl.detach(), mask)
    return loss_seq.sum() / max(n_seq, 1.0), info, cross


def hacpo_update(learner: Learner, own: list[Trajectory], cross: list[Trajectory], h: HACPOConfig,
                 naive: bool = False) -> dict[str, float]:
    """Update ``learner`` on ``own + cross`` (advantages set; cross rows carry ``info`` cross/weight/
    source_mean_logp). Returns ``actor/*`` and ``hacpo/*`` metrics: cross ratio mean/min/max, clip fractions of self
    and cross rows at the lower / upper bound, the last lower bound used, and the share of correct (score >= 1) cross
    rows whose loss had a non-zero gradient (``cross_correct_grad_frac``; over all epochs' mini-batches)."""
    learner.model.train()
    learner.activate()
    rows = [t for t in own + cross if float(t.loss_mask.sum()) > 0]
    per = math.ceil(len(rows) / learner.train.mini_batches) if rows else 1
    ratios, lows, highs, crosses, kls, lives, correct = [], [], [], [], [], [], []
    losses, norms, m, skipped = [], [], 0, 0
    lower = 1.0
    for _ in range(learner.train.epochs):
        for k in range(0, len(rows), per):
            mb = rows[k:k + per]
            lower = cross_lower_bound(m, h.delta, h.delta_step, h.stepwise_clip)
            total = 0.0
            for micro in learner.micro_batches(mb):
                loss, info, is_cross = _micro_loss(learner, micro, lower, h, naive, float(len(mb)))
                learner.backward(loss)
                total += float(loss.detach())
                ratios.append(info["ratio"])
                lows.append(info["low"])
                highs.append(info["high"])
                crosses.append(is_cross)
                lives.append(info["live"])
                correct.append(torch.tensor([t.score >= 1 for t in micro], device=is_cross.device))
                if "kl" in info:
                    kls.append(info["kl"])
            ok, norm = learner.step()
            skipped += not ok
            losses.append(total)
            if ok:
                norms.append(norm)
            m += 1
    out = {"actor/loss": sum(losses) / max(len(losses), 1), "actor/grad_norm": sum(norms) / max(len(norms), 1),
           "actor/skipped_updates": float(skipped), "actor/updates": float(m),
           "actor/lr": learner.sched.get_last_lr()[0],
           "hacpo/cross_lower_bound_last": lower, "hacpo/pool_size": float(len(rows)),
           "hacpo/cross_rows": float(len([t for t in rows if t.info.get("cross")]))}
    if not ratios:
        return out
    s, lo, hi, c = (torch.cat(x) for x in (ratios, lows, highs, crosses))
    for name, sel in (("self", ~c), ("cross", c)):
        if sel.any():
            out[f"hacpo/{name}_clipfrac_low"] = float(lo[sel].double().mean())
            out[f"hacpo/{name}_clipfrac_high"] = float(hi[sel].double().mean())
            out[f"hacpo/{name}_ratio_mean"] = float(s[sel].mean())
            out[f"hacpo/{name}_ratio_min"] = float(s[sel].min())
            out[f"hacpo/{name}_ratio_max"] = float(s[sel].max())
    live, right = torch.cat(lives), torch.cat(correct)
    if (c & right).any():  # HACPO's point: a correct sample from a peer should move the learner
        out["hacpo/cross_correct_grad_frac"] = float((live & c & right).sum() / (c & right).sum())
    if kls:
        out["actor/kl"] = float(torch.cat(kls).mean())
    return out
