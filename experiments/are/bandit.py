"""ARE decisive miniature: a contextual bandit with a tabular softmax policy under heavy-tailed reward noise.

C contexts, A actions, one correct action per context (verifier score 1, else 0); the policy is softmax(θ[c]) with θ
initialised at 0 (accuracy 1/A). Per step B contexts are drawn, n actions are sampled per context (one group each),
each score is contaminated with probability ``rate`` by ``scale`` · Student-t(df), and the group advantages come from
credo's registry: ``ADVANTAGES["grpo" | "dr_grpo"](rewards, group_ids, AlgoConfig(baseline=centre))`` with
``BASELINES`` ``mean`` or ``are``. The update is plain SGD on the REINFORCE loss
-1/(B·n) Σ_i A_i log π(a_i | c_i) (exact tabular gradient), with the global gradient norm clipped to 1 or not.

Arms (centre × scale × clip): centre ``mean`` | ``are``; scale ``std`` (GRPO), ``none`` (Dr.GRPO) or ``bern`` (the
robust-scale ablation: (r - c) / sqrt(ĉ(1 - ĉ)), ĉ = the centre clamped to [1/n, 1 - 1/n], the spread a clean 0/1
group with that success rate has; it cannot be inflated by an outlier, so std vs bern isolates the scale's effect).
All arms of a seed share the context stream, the sampling uniforms and the
noise draws (common random numbers).

Pre-registered measures per run:
- sign-error rate of clean samples: share of uncontaminated samples with A_i · (r_i - p_c) <= 0, p_c = π(correct | c)
  at sampling time (a zero advantage counts as an error: the sample gets no signal); also the strict wrong-sign
  rate A_i · (r_i - p_c) < 0 (signal in the wrong direction);
- steps to target: first step whose expected accuracy mean_c π(correct | c) reaches 0.8 (None = not in the budget);
- collapse: the run ends with some context putting >= 0.99 on a wrong action (or non-finite θ).

Usage: nice -n 10 python experiments/are/bandit.py --seeds 0-19 [--calibrate] -> bandit.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from credo.config import AlgoConfig
from credo.credit import ADVANTAGES, BASELINES
from credo.experiment_utils import int_list, inverse_cdf

OUT = Path(__file__).parent
C, A, B, TARGET = 8, 4, 2, 0.8
NOISE = [(None, 0.0, 0.0)] + [(df, s, r) for df in (1.0, 2.0) for s in (1.0, 10.0) for r in (0.1, 0.3)]
ARMS = [(c, s, clip) for clip in (False, True) for s in ("std", "none", "bern") for c in ("mean", "are")]


def advantages(r: torch.Tensor, gid: torch.Tensor, centre: str, scale: str, n: int) -> torch.Tensor:
    """Group advantages through credo's registry (r, gid: [B·n])."""
    if scale == "std":
        return ADVANTAGES.get("grpo")(r, gid, AlgoConfig(baseline=centre))[0]
    centred = ADVANTAGES.get("dr_grpo")(r, gid, AlgoConfig(baseline=centre))[0]
    if scale == "none":
        return centred
    out = torch.empty_like(centred)
    for g in gid.unique():
        m = gid == g
        c = float(BASELINES.get(centre)(r[m].double()))
        c = min(max(c, 1.0 / n), 1.0 - 1.0 / n)
        out[m] = centred[m] / math.sqrt(c * (1.0 - c))
    return out


def draws(seed: int, steps: int, n: int, noise) -> dict:
    """The random numbers every arm of a seed shares."""
    g = np.random.default_rng(seed)
    df, scale, rate = noise
    return {"correct": g.integers(0, A, C), "ctx": g.integers(0, C, (steps, B)), "u": g.random((steps, B, n)),
            "hit": g.random((steps, B, n)) < rate,
            "xi": scale * g.standard_t(df if df else 1.0, (steps, B, n))}


def run(seed: int, n: int, noise, arm, steps: int, lr: float) -> dict:
    centre, scale, clip = arm
    d = draws(seed, steps, n, noise)
    theta = torch.zeros(C, A, dtype=torch.float64)
    gid = torch.arange(B).repeat_interleave(n)
    errors = wrong_sign = clean_total = 0
    hit_at, acc_curve = None, []
    for t in range(steps):
        probs = torch.softmax(theta, -1)
        acc = float(probs[torch.arange(C), torch.as_tensor(d["correct"])].mean())
        acc_curve.append(acc)
        if hit_at is None and acc >= TARGET:
            hit_at = t
        ctx = torch.as_tensor(d["ctx"][t])
        p = probs[ctx]                                                     # [B, A]
        acts = inverse_cdf(p, torch.as_tensor(d["u"][t]))                 # [B, n]
        correct = torch.as_tensor(d["correct"])[ctx]
        clean = (acts == correct.unsqueeze(-1)).double()
        hit = torch.as_tensor(d["hit"][t])
        r = (clean + torch.where(hit, torch.as_tensor(d["xi"][t]), torch.zeros_like(clean))).flatten()
        adv = advantages(r.float(), gid, centre, scale, n).double().view(B, n)
        p_c = p[torch.arange(B), correct].unsqueeze(-1)
        wrong = (adv * (clean - p_c) <= 0) & ~hit
        errors += int(wrong.sum())
        wrong_sign += int(((adv * (clean - p_c) < 0) & ~hit).sum())
        clean_total += int((~hit).sum())
        onehot = torch.nn.functional.one_hot(acts, A).double()           # [B, n, A]
        g_ctx = (adv.unsqueeze(-1) * (onehot - p.unsqueeze(1))).sum(1) / (B * n)   # ascent direction per drawn context
        grad = torch.zeros_like(theta).index_add_(0, ctx, g_ctx)
        norm = float(grad.norm())
        if clip and norm > 1.0:
            grad = grad / norm
        theta = theta + lr * grad
    probs = torch.softmax(theta, -1)
    finite = bool(torch.isfinite(theta).all())
    wrong_mass = probs.clone()
    wrong_mass[torch.arange(C), torch.as_tensor(d["correct"])] = 0
    locked = int((wrong_mass.max(-1).values >= 0.99).sum()) if finite else C
    return {"seed": seed, "n": n, "noise": list(noise), "centre": centre, "scale": scale, "clip": clip,
            "sign_error": errors / max(clean_total, 1), "wrong_sign": wrong_sign / max(clean_total, 1),
            "steps_to_target": hit_at,
            "final_acc": float(probs[torch.arange(C), torch.as_tensor(d["correct"])].mean()) if finite else 0.0,
            "locked_contexts": locked, "collapsed": locked > 0, "acc_curve": acc_curve[:: max(steps // 30, 1)]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--lr", type=float, default=2.0)
    ap.add_argument("--ns", default="16,32")
    ap.add_argument("--calibrate", action="store_true", help="clean GRPO-mean only, lr in {0.5, 1, 2, 4}")
    ap.add_argument("--out", default=str(OUT / "bandit.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    seeds, ns = int_list(a.seeds), int_list(a.ns)
    rows, t0 = [], time.time()
    if a.calibrate:
        for lr in (0.5, 1.0, 2.0, 4.0):
            for n in ns:
                for seed in seeds:
                    rows.append(run(seed, n, NOISE[0], ("mean", "std", False), a.steps, lr) | {"lr": lr})
                hits = [r["steps_to_target"] for r in rows if r["lr"] == lr and r["n"] == n]
                print(f"lr {lr} n {n}: steps to {TARGET}: {hits}  ({time.time() - t0:.0f}s)", flush=True)
    else:
        for seed in seeds:
            for n in ns:
                for noise in NOISE:
                    for arm in ARMS:
                        rows.append(run(seed, n, noise, arm, a.steps, a.lr) | {"lr": a.lr})
            print(f"seed {seed} done ({time.time() - t0:.0f}s)", flush=True)
            Path(a.out).write_text(json.dumps({"steps": a.steps, "lr": a.lr, "C": C, "A": A, "B": B,
                                               "target": TARGET, "runs": rows}))
    Path(a.out).write_text(json.dumps({"steps": a.steps, "lr": a.lr, "C": C, "A": A, "B": B, "target": TARGET,
                                       "runs": rows}))


if __name__ == "__main__":
    main()
