"""Two A.7 add-ons on the J1 setup of ``run.py`` (same seeds, so the same J1 and the same test pairs):

1. Accuracy predicted from J1's measured atomic error ε and its measured generic-item length bias: a counting judge
   whose instruction-rule verdicts are the truth flipped with probability ε and whose generic items pass with
   probability q_long on the longer response of a pair and q_short on the shorter one (b_pair = q_long - q_short),
   ties counted 0.5; 200 Monte-Carlo draws per pair. Compared with J1's accuracy counted the same way (hard count,
   ties 0.5) and as run (ties broken by summed probability).
2. Masking 1-3 items of each teacher rubric at test time (items drawn uniformly; no retraining), J1 as the judge.

Usage: ``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python experiments/cdrrm/ablate.py --seeds 0 1 2 3 4``
Writes ``experiments/cdrrm/ablate.json``; ``--table`` prints its tables.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from models import Verifier, verifier_data
from run import SPLITS, TRAIN, atomic_accuracy, cts_rubric, direct_rubric, judge, one_step_rubric
from world import GENERIC, discriminative, make_pairs, pad, satisfied

from credo.experiment_utils import mean_se

ARMS = {"gold": lambda p, k: discriminative(p), "direct_T": direct_rubric, "one_step_T": one_step_rubric,
        "cts_T": cts_rubric}


def hard_counts(j1: Verifier, pairs, rubrics) -> np.ndarray:
    """[N, 2] items J1 passes (probability > 0.5) for A and B."""
    rules, resp, owner = [], [], []
    for i, (p, rb) in enumerate(zip(pairs, rubrics)):
        for r in sorted(rb):
            rules += [r, r]
            resp += [p.a, p.b]
            owner += [i, i]
    counts = np.zeros((len(pairs), 2))
    for j, (i, q) in enumerate(zip(owner, j1.prob(rules, resp))):
        counts[i, j % 2] += q > 0.5
    return counts


def tie_half_acc(counts: np.ndarray, pairs) -> float:
    gold_a = np.array([p.gold == "A" for p in pairs])
    a_wins, tie = counts[:, 0] > counts[:, 1], counts[:, 0] == counts[:, 1]
    return float(np.mean(np.where(tie, 0.5, a_wins == gold_a)))


def predicted_acc(pairs, rubrics, eps: float, q_short: float, q_long: float, rng, draws: int = 200) -> float:
    """Expected accuracy of the ε / length-bias model of the judge (ties 0.5)."""
    total = 0.0
    for p, rb in zip(pairs, rubrics):
        a_longer = len(p.a) > len(p.b)
        ca = cb = np.zeros(draws)
        for r in rb:
            if r in GENERIC:
                qa, qb = (q_long, q_short) if a_longer else (q_short, q_long)
                pa, pb = rng.random(draws) < qa, rng.random(draws) < qb
            else:
                pa = satisfied(r, p.a) != (rng.random(draws) < eps)
                pb = satisfied(r, p.b) != (rng.random(draws) < eps)
            ca, cb = ca + pa, cb + pb
        right = (ca > cb) if p.gold == "A" else (cb > ca)
        total += float(np.mean(np.where(ca == cb, 0.5, right)))
    return total / len(pairs)


def mask(rubrics, k: int, rng) -> list[set[int]]:
    return [set(rng.permutation(sorted(rb))[k:].tolist()) if rb else set() for rb in rubrics]


def run_seed(seed: int, n_test: int) -> dict:
    torch.manual_seed(seed)
    # J1 exactly as in run.py
    pool = make_pairs(10_000 + seed, 4000, **TRAIN)
    j1 = Verifier(seed)
    x, y = verifier_data(pool, 20_000, seed)
    j1.train(x, y, steps=1500, seed=seed)
    held = make_pairs(20_000 + seed, 1000, 0.5, 0.5)
    eps = 1 - atomic_accuracy(j1, held)
    rng = np.random.default_rng(seed)
    longer = [p.a if len(p.a) > len(p.b) else p.b for p in held]
    shorter = [p.b if len(p.a) > len(p.b) else p.a for p in held]
    g = [int(r) for r in rng.choice(GENERIC, size=len(held))]
    q_long, q_short = (float(np.mean(j1.prob(g, ts) > 0.5)) for ts in (longer, shorter))
    b_pad = float(np.mean(j1.prob(g, [pad(t, rng) for t in shorter]) > 0.5)) - q_short
    out: dict = {"seed": seed, "eps": eps, "q_short": q_short, "q_long": q_long, "b_pad_shorter": b_pad,
                 "arms": {}}
    mc = np.random.default_rng((seed, 99))
    for split, p_long in SPLITS.items():
        test = make_pairs(40_000 + seed * 10 + int(p_long * 2), n_test, p_long, 0.5)
        tkeys = [(seed, 2, int(p_long * 2), i) for i in range(len(test))]
        for arm, fn in ARMS.items():
            rbs = [fn(p, k) for p, k in zip(test, tkeys)]
            res = {"acc": float(np.mean([w == p.gold for w, p in zip(judge(j1, test, rbs), test)])),
                   "acc_hard_tie_half": tie_half_acc(hard_counts(j1, test, rbs), test),
                   "acc_predicted": predicted_acc(test, rbs, eps, q_short, q_long, mc)}
            mrng = np.random.default_rng((seed, 7, int(p_long * 2)))
            for k in (1, 2, 3):
                masked = mask(rbs, k, mrng)
                res[f"acc_mask{k}"] = float(np.mean([w == p.gold for w, p in zip(judge(j1, test, masked), test)]))
                res[f"empty_mask{k}"] = float(np.mean([not m for m in masked]))
            out["arms"].setdefault(arm, {})[split] = res
    return out


def table(results: list[dict]) -> str:
    """Markdown tables (mean ± SE over seeds) of the prediction and of the masking ablation."""
    lines = ["| J1, measured on 1000 held-out balanced pairs | mean ± SE |", "|---|---|"]
    for k in ("eps", "q_short", "q_long", "b_pad_shorter"):
        lines.append(f"| {k} | {mean_se([r[k] for r in results])} |")
    lines += ["", "| arm | split | J1 acc (as run) | J1 acc (hard count, ties 0.5) | predicted from ε, q |",
              "|---|---|---|---|---|"]
    arms = results[0]["arms"]
    for arm in arms:
        for split in arms[arm]:
            get = (lambda k, a=arm, s=split: mean_se([r["arms"][a][s][k] for r in results]))
            lines.append(f"| {arm} | {split} | {get('acc')} | {get('acc_hard_tie_half')} | {get('acc_predicted')} |")
    lines += ["", "| arm | split | no mask | mask 1 | mask 2 | mask 3 | empty rubrics at mask 1 / 2 / 3 |",
              "|---|---|---|---|---|---|---|"]
    for arm in arms:
        for split in ("balanced", "length_adv"):
            get = (lambda k, a=arm, s=split: mean_se([r["arms"][a][s][k] for r in results]))
            empty = " / ".join(f"{np.mean([r['arms'][arm][split][f'empty_mask{k}'] for r in results]):.2f}"
                               for k in (1, 2, 3))
            lines.append(f"| {arm} | {split} | {get('acc')} | {get('acc_mask1')} | {get('acc_mask2')} | "
                         f"{get('acc_mask3')} | {empty} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", action="store_true", help="print the tables of an existing --out file")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--out", default=str(Path(__file__).with_name("ablate.json")))
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.out).read_text())))
        return
    torch.set_num_threads(1)
    results = []
    for s in args.seeds:
        t0 = time.time()
        results.append(run_seed(s, args.n_test))
        Path(args.out).write_text(json.dumps(results, indent=1))
        print(json.dumps({k: results[-1][k] for k in ("seed", "eps", "q_short", "q_long", "b_pad_shorter")}),
              f"{time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
