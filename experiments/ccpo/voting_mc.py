"""CCPO voting, decisive miniature: multiple choice (4 options), 5 voters of similar accuracy whose knowledge differs,
so that the majority beats the best voter. Tabular softmax voters; credit through credo's own code path.

Q questions, one correct option each (each option gold Q/4 times). Voter k "knows" a random 40 % of them (its
competence set): on those it sees the question id, elsewhere one shared blank state, so its best reachable accuracy
is about 0.4 + 0.6 / 4 = 0.55 and the five voters are alike; their knowledge overlaps only partly, so the majority can
reach well above 0.55. Per step: B questions, n vote rounds each (every voter samples one option per round); per
round credo's ``vote_credit`` gives the team score and each voter's counterfactual credit (re-tally without k, ties
broken at random with a fixed seed), ``shape_vote_rewards`` pays each voter by ``multi.credit`` mode
(``counterfactual``: tanh of its EMA z-score, ``joint_plus``: R_joint + 0.2·c_k, ``shared``: R_joint,
``individual``: own score), and ``ADVANTAGES["grpo"]`` normalises per (voter, question) group. Update: SGD on
-mean A log π, all voters at once. All arms of a seed share the competence sets, questions and sampling uniforms.

Measured per run: expected team accuracy (majority of the voters' modal answers and, sampled, of their policies),
each voter's expected accuracy, and the pre-registered mechanism measure: the correlation between a voter's
advantage and whether its own vote was right (pooled over the run).

Usage: python experiments/ccpo/voting_mc.py [--seeds 0-9] -> voting_mc.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from credo.config import AlgoConfig
from credo.credit import ADVANTAGES
from credo.credit.ccpo import HistoryNormalizer, shape_vote_rewards, vote_credit
from credo.experiment_utils import inverse_cdf

OUT = Path(__file__).parent
Q, K, A, B, N_ROUNDS, COMPETENCE = 32, 5, 4, 4, 8, 0.4
OPTIONS = "ABCD"
MODES = ("shared", "counterfactual", "joint_plus", "individual")


def setup(seed: int) -> dict:
    g = np.random.default_rng(seed)
    knows = np.zeros((K, Q), dtype=bool)
    for k in range(K):  # exactly round(0.4·Q) known questions per voter
        knows[k, g.permutation(Q)[: round(COMPETENCE * Q)]] = True
    state = np.where(knows, np.arange(Q)[None, :], Q)  # state Q = the blank one
    return {"gold": g.permutation(np.arange(Q) % A), "state": state}  # each option is gold Q/4 times


def team_accuracy(theta: torch.Tensor, s: dict, rounds: int, rng: np.random.Generator) -> float:
    """Sampled majority accuracy (random tie-break) over all questions, ``rounds`` rounds each."""
    right = 0
    tie = random.Random(0)
    for q in range(Q):
        p = torch.softmax(theta[torch.arange(K), torch.as_tensor(s["state"][:, q])], -1).numpy()  # [K, A]
        for _ in range(rounds):
            votes = [OPTIONS[int(rng.choice(A, p=p[k] / p[k].sum()))] for k in range(K)]
            joint, _ = vote_credit(votes, {OPTIONS[s["gold"][q]]: 1.0}, "random", tie.randrange(1 << 30))
            right += joint
    return right / (Q * rounds)


def voter_accuracy(theta: torch.Tensor, s: dict) -> list[float]:
    p = torch.softmax(theta, -1)  # [K, Q + 1, A]
    gold = torch.as_tensor(s["gold"])
    return [float(p[k, torch.as_tensor(s["state"][k]), gold].mean()) for k in range(K)]


def run(seed: int, mode: str, steps: int, lr: float) -> dict:
    s = setup(seed)
    g = np.random.default_rng(10_000 + seed)
    qs, us = g.integers(0, Q, (steps, B)), g.random((steps, B, N_ROUNDS, K))
    theta = torch.zeros(K, Q + 1, A, dtype=torch.float64)
    hist = HistoryNormalizer(0.99, 10)
    adv_all, right_all = [], []
    curve = []
    for t in range(steps):
        if t % 10 == 0:
            curve.append(voter_accuracy(theta, s))
        probs = torch.softmax(theta, -1)
        votes = np.zeros((B, N_ROUNDS, K), dtype=int)
        joint = np.zeros((B, N_ROUNDS))
        credit = np.zeros((B, N_ROUNDS, K))
        for b in range(B):
            q = int(qs[t, b])
            p = probs[torch.arange(K), torch.as_tensor(s["state"][:, q])]  # [K, A]
            for r in range(N_ROUNDS):
                votes[b, r] = inverse_cdf(p, torch.as_tensor(us[t, b, r])[:, None])[:, 0].numpy()
                jr, ck = vote_credit([OPTIONS[v] for v in votes[b, r]], {OPTIONS[s["gold"][q]]: 1.0}, "random",
                                     seed * 1_000_003 + t * 131 + b * 17 + r)
                joint[b, r], credit[b, r] = jr, ck
        gold = s["gold"][qs[t]]  # [B]
        own = (votes == gold[:, None, None]).astype(float)  # [B, R, K]
        gid = torch.arange(B).repeat_interleave(N_ROUNDS)
        grad = torch.zeros_like(theta)
        for k in range(K):
            rew = shape_vote_rewards(torch.as_tensor(joint.ravel()), torch.as_tensor(credit[:, :, k].ravel()),
                                     torch.as_tensor(own[:, :, k].ravel()), hist, f"v{k}", mode)
            adv, _ = ADVANTAGES.get("grpo")(rew.float(), gid, AlgoConfig())
            adv = adv.double().view(B, N_ROUNDS)
            adv_all += adv.ravel().tolist()
            right_all += own[:, :, k].ravel().tolist()
            for b in range(B):
                st = int(s["state"][k, qs[t, b]])
                p = probs[k, st]
                onehot = torch.nn.functional.one_hot(torch.as_tensor(votes[b, :, k]), A).double()
                grad[k, st] += (adv[b].unsqueeze(-1) * (onehot - p)).sum(0) / (B * N_ROUNDS)
        theta = theta + lr * grad
    acc = voter_accuracy(theta, s)
    a, r = np.array(adv_all), np.array(right_all)
    corr = float(np.corrcoef(a, r)[0, 1]) if a.std() > 0 and r.std() > 0 else 0.0
    modal = theta.argmax(-1)  # each voter's greedy answer per state
    votes_modal = [[OPTIONS[int(modal[k, s["state"][k, q]])] for k in range(K)] for q in range(Q)]
    greedy_team = float(np.mean([vote_credit(v, {OPTIONS[s["gold"][q]]: 1.0}, "random", q)[0]
                                 for q, v in enumerate(votes_modal)]))
    return {"seed": seed, "mode": mode, "voter_acc": acc, "best_voter": max(acc), "mean_voter": float(np.mean(acc)),
            "team_sampled": team_accuracy(theta, s, 16, np.random.default_rng(seed)), "team_greedy": greedy_team,
            "adv_right_corr": corr, "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=2.0)
    ap.add_argument("--out", default=str(OUT / "voting_mc.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    lo, _, hi = a.seeds.partition("-")
    rows, t0 = [], time.time()
    for seed in range(int(lo), int(hi or lo) + 1):
        for mode in MODES:
            rows.append(run(seed, mode, a.steps, a.lr))
            r = rows[-1]
            print(f"seed {seed} {mode}: voters {r['mean_voter']:.3f} (best {r['best_voter']:.3f}) team sampled "
                  f"{r['team_sampled']:.3f} greedy {r['team_greedy']:.3f} corr {r['adv_right_corr']:.3f} "
                  f"({time.time() - t0:.0f}s)", flush=True)
        Path(a.out).write_text(json.dumps({"steps": a.steps, "lr": a.lr, "runs": rows}))


if __name__ == "__main__":
    main()
