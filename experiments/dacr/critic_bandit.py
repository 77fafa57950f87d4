"""DACR decisive miniature: train only the critic, with a frozen answerer and a fixed rewriter.

Per prompt p (P of them) a frozen answerer writes a D-digit draft that is right with probability 1/2, else wrong in
one uniformly drawn digit e ∈ {1..D}. The critic sees (p, draft) — a context c = (p, e), e = 0 for a right draft —
and answers "ok" (action 0) or points at a digit (action k ∈ {1..D}). A fixed rewriter changes only the pointed digit:
it fixes it when k = e and breaks it otherwise (also on a right draft); "ok" keeps the draft. So
R(y) = 1[e = 0] and R(y') = 1[critic right], right = (a = 0 and e = 0) or (a = e ≥ 1).

The critic is a tabular softmax policy π(a | c) = softmax(θ[c]); per step B prompts, n episodes each (one group per
prompt, n different drafts, as in credo's ``answer_critique_rewrite`` workflow). Its reward goes through credo's
``dacr_rewards`` (``shared``: R(y'); ``cross_improvement``: R(y') − R(y)), with verifier noise (probability ``rate``,
``scale`` · Student-t(df)) added to R(y) and R(y') *before* credit, as the workflow does; advantages through
``ADVANTAGES["grpo" | "dr_grpo"]``; plain SGD on −1/(B·n) Σ A log π (exact tabular gradient).

Critic at the start: ``uniform`` (θ = 0: right w.p. 1/(D+1) everywhere) or ``lazy`` (π(ok) = 0.7 everywhere — a
critic that mostly approves, so R(y') mostly equals R(y)). All arms of a seed share the draft stream, sampling
uniforms and noise draws.

Measures per run: primary — corr(A_i, right_i) over the clean samples of all steps (does the critic's learning signal
track whether its contribution was right?) and the sign-agreement rate sign(A_i) = (+ if right else −) on clean
samples (zero counts as disagreement); then expected critic accuracy (contexts weighted by the draft distribution),
steps to 0.9 of it, final accuracy after ``steps``.

Usage: nice -n 10 python experiments/dacr/critic_bandit.py [--calibrate] [--seeds 0-19] -> critic_bandit.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from credo.config import AlgoConfig
from credo.credit import ADVANTAGES
from credo.credit.dacr import dacr_rewards
from credo.experiment_utils import int_list, inverse_cdf

OUT = Path(__file__).parent
P, D, B, TARGET = 8, 3, 4, 0.9
A = D + 1
NOISE = [(None, 0.0, 0.0), (1.0, 1.0, 0.1), (2.0, 1.0, 0.3), (1.0, 5.0, 0.2)]
ARMS = [(mode, scale) for scale in ("grpo", "dr_grpo") for mode in ("shared", "cross_improvement")]
STARTS = ("uniform", "lazy")
# Context weights: a right draft w.p. 1/2, else each wrong digit w.p. 1/(2D).
E_WEIGHT = torch.tensor([0.5] + [0.5 / D] * D, dtype=torch.float64)


def draws(seed: int, steps: int, n: int, noise) -> dict:
    """The random numbers every arm of a seed shares."""
    g = np.random.default_rng(seed)
    df, scale, rate = noise
    right = g.random((steps, B, n)) < 0.5
    return {"prompt": g.integers(0, P, (steps, B)),
            "err": np.where(right, 0, g.integers(1, D + 1, (steps, B, n))),
            "u": g.random((steps, B, n)),
            "hit": g.random((steps, B, n, 2)) < rate,
            "xi": scale * g.standard_t(df if df else 1.0, (steps, B, n, 2))}


def initial_theta(start: str) -> torch.Tensor:
    theta = torch.zeros(P, A, A, dtype=torch.float64)        # [prompt, draft error e, action]
    if start == "lazy":
        theta[..., 0] = float(np.log(0.7 / (0.3 / D)))           # π(ok) = 0.7, each pointer 0.1
    return theta


def accuracy(theta: torch.Tensor) -> float:
    """Expected probability that the critic is right, contexts weighted by the draft distribution."""
    probs = torch.softmax(theta, -1)
    right = probs.diagonal(dim1=1, dim2=2)                       # [P, A]: π(a = e | p, e)
    return float((right * E_WEIGHT).sum(-1).mean())


def run(seed: int, n: int, noise, arm, start: str, steps: int, lr: float) -> dict:
    mode, scale = arm
    d = draws(seed, steps, n, noise)
    theta = initial_theta(start)
    gid = torch.arange(B).repeat_interleave(n)
    adv_all, right_all = [], []
    hit_at, curve = None, []
    for t in range(steps):
        acc = accuracy(theta)
        curve.append(acc)
        if hit_at is None and acc >= TARGET:
            hit_at = t
        prompt = torch.as_tensor(d["prompt"][t]).unsqueeze(-1).expand(B, n)
        err = torch.as_tensor(d["err"][t])
        p = torch.softmax(theta, -1)[prompt, err]                # [B, n, A]
        acts = inverse_cdf(p, torch.as_tensor(d["u"][t]).unsqueeze(-1)).squeeze(-1)  # [B, n]
        right = (acts == err).double()                           # R(y'): ok on a right draft, or the wrong digit
        draft_ok = (err == 0).double()                           # R(y)
        hit = torch.as_tensor(d["hit"][t])
        xi = torch.where(hit, torch.as_tensor(d["xi"][t]), torch.zeros(hit.shape, dtype=torch.float64))
        _, r_crit, _, _ = dacr_rewards((draft_ok + xi[..., 0]).flatten(), (right + xi[..., 1]).flatten(), None, mode)
        adv = ADVANTAGES.get(scale)(r_crit.float(), gid, AlgoConfig())[0].double().view(B, n)
        clean = ~hit.any(-1)
        adv_all.append(adv[clean])
        right_all.append(right[clean])
        onehot = torch.nn.functional.one_hot(acts, A).double()
        g = adv.unsqueeze(-1) * (onehot - p) / (B * n)           # ascent direction per sample [B, n, A]
        grad = torch.zeros_like(theta).index_put_((prompt.flatten(), err.flatten()), g.view(-1, A), accumulate=True)
        theta = theta + lr * grad
    adv_c, right_c = torch.cat(adv_all), torch.cat(right_all)
    corr = float(torch.corrcoef(torch.stack([adv_c, right_c]))[0, 1]) if adv_c.std() > 0 else 0.0
    agree = float(((adv_c > 0) & (right_c > 0) | (adv_c < 0) & (right_c == 0)).double().mean())
    return {"seed": seed, "n": n, "noise": list(noise), "mode": mode, "scale": scale, "start": start,
            "corr": corr, "sign_agree": agree, "steps_to_target": hit_at, "final_acc": accuracy(theta),
            "acc_curve": curve[:: max(steps // 30, 1)]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--ns", default="8,16")
    ap.add_argument("--calibrate", action="store_true", help="clean shared-reward GRPO only, lr in {0.5, 1, 2, 4}")
    ap.add_argument("--out", default=str(OUT / "critic_bandit.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    seeds, ns = int_list(a.seeds), int_list(a.ns)
    rows, t0 = [], time.time()
    meta = {"steps": a.steps, "P": P, "D": D, "B": B, "target": TARGET}
    if a.calibrate:
        for lr in (0.5, 1.0, 2.0, 4.0):
            for start in STARTS:
                for n in ns:
                    got = [run(s, n, NOISE[0], ("shared", "grpo"), start, a.steps, lr) for s in seeds]
                    rows += [r | {"lr": lr} for r in got]
                    hits = [r["steps_to_target"] for r in got]
                    print(f"lr {lr} {start} n {n}: steps to {TARGET}: {hits} "
                          f"final {np.mean([r['final_acc'] for r in got]):.3f} ({time.time() - t0:.0f}s)", flush=True)
    else:
        for seed in seeds:
            for n in ns:
                for noise in NOISE:
                    for start in STARTS:
                        rows += [run(seed, n, noise, arm, start, a.steps, a.lr) | {"lr": a.lr} for arm in ARMS]
            print(f"seed {seed} done ({time.time() - t0:.0f}s)", flush=True)
    Path(a.out).write_text(json.dumps(meta | {"lr": a.lr, "runs": rows}))


if __name__ == "__main__":
    main()
