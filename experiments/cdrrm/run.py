"""CDRRM decisive miniature (spec A.7), J1 arms only: calibration gate, then every arm on three test splits.

Usage: ``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python experiments/cdrrm/run.py --seeds 0 1 2 3 4``
Writes ``experiments/cdrrm/results.json`` (per seed) and prints the mean table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from models import BT, Generator, Holistic, Verifier, n_params, verifier_data
from world import GENERIC, Pair, discriminative, make_pairs, pad, satisfied, swap

ETA, ONE_STEP_ERR = 0.15, 0.3  # teacher per-finding error; one-step teacher's pair-level error
TRAIN = dict(p_long=0.65, p_slot_a=0.6)
SPLITS = {"balanced": 0.5, "length_adv": 0.0, "aligned": 1.0}


def teacher_profiles(p: Pair, key: tuple[int, int]) -> tuple[dict[int, bool], dict[int, bool]]:
    """Noisy per-response statuses of the instruction rules (error ETA per finding); the draws depend only on
    ``key``, so a padded copy of the pair gets the same noise."""
    rng = np.random.default_rng(key)
    noisy = [{r: satisfied(r, t) != (rng.random() < ETA) for r in p.rules} for t in (p.a, p.b)]
    return noisy[0], noisy[1]


def cts_rubric(p: Pair, key) -> set[int]:
    a, b = teacher_profiles(p, key)
    return {r for r in p.rules if a[r] != b[r]}


def self_check(p: Pair, rubric: set[int], key) -> bool:
    """The synthesizer's consistency check: severity-weighted teacher statuses on the rubric pick the gold slot."""
    a, b = teacher_profiles(p, key)
    sa, sb = (sum(p.severity[r] for r in rubric if s[r]) for s in (a, b))
    return sa != sb and ("A" if sa > sb else "B") == p.gold


def one_step_rubric(p: Pair, key) -> set[int]:
    rng = np.random.default_rng((*key, 7))
    disc = discriminative(p)
    picked = {r for r in p.rules if (r in disc) != (rng.random() < ONE_STEP_ERR)}
    return picked | {int(g) for g in rng.choice(GENERIC, size=2, replace=False)}


def direct_rubric(p: Pair, key=None) -> set[int]:
    return set(p.rules) | set(GENERIC)


def judge(j1: Verifier, pairs: list[Pair], rubrics: list[set[int]]) -> list[str]:
    """Frozen J1 with a rubric: more items passed wins; ties broken by the summed pass probability, then slot A."""
    rules, resp, owner = [], [], []
    for i, (p, rb) in enumerate(zip(pairs, rubrics)):
        for r in sorted(rb):
            rules += [r, r]
            resp += [p.a, p.b]
            owner += [(i, 0), (i, 1)]
    probs = j1.prob(rules, resp)
    hard, soft = np.zeros((len(pairs), 2)), np.zeros((len(pairs), 2))
    for (i, s), q in zip(owner, probs):
        hard[i, s] += q > 0.5
        soft[i, s] += q
    out = []
    for (ha, hb), (sa, sb) in zip(hard, soft):
        out.append("A" if ha > hb else "B" if hb > ha else ("A" if sa >= sb else "B"))
    return out


def atomic_accuracy(j1: Verifier, pairs: list[Pair]) -> float:
    """Share of (rule, response) items of ``pairs`` (both responses, every rule) the verifier judges right."""
    items = [(r, t) for p in pairs for r in p.rules for t in (p.a, p.b)]
    truth = np.array([satisfied(r, t) for r, t in items])
    return float(np.mean((j1.prob([r for r, _ in items], [t for _, t in items]) > 0.5) == truth))


def acc(winners, pairs) -> float:
    return float(np.mean([w == p.gold for w, p in zip(winners, pairs)]))


def precision_recall(pairs, rubrics) -> tuple[float, float, float]:
    hit = size = disc = 0
    for p, rb in zip(pairs, rubrics):
        d = discriminative(p)
        hit, size, disc = hit + len(rb & d), size + len(rb), disc + len(d)
    return hit / max(size, 1), hit / max(disc, 1), size / len(pairs)


def padded_chosen(pairs: list[Pair], seed: int) -> list[Pair]:
    rng = np.random.default_rng(seed)
    return [Pair(p.rules, p.severity, pad(p.a, rng) if p.gold == "A" else p.a,
                 pad(p.b, rng) if p.gold == "B" else p.b, p.gold) for p in pairs]


def run_seed(seed: int, n_test: int, verbose: bool = True) -> dict:
    t0 = time.time()
    torch.manual_seed(seed)
    out: dict = {"seed": seed}
    # ---- J1 and the gate ----
    pool = make_pairs(10_000 + seed, 4000, **TRAIN)
    j1 = Verifier(seed)
    x, y = verifier_data(pool, 20_000, seed)
    j1.train(x, y, steps=1500, seed=seed)
    held = make_pairs(20_000 + seed, 1000, 0.5, 0.5)
    rng = np.random.default_rng(seed)
    atomic = atomic_accuracy(j1, held)
    gen_resp = [t for p in held for t in (p.a, p.b)]
    g_rules = [int(g) for g in rng.choice(GENERIC, size=len(gen_resp))]
    base = j1.prob(g_rules, gen_resp) > 0.5
    padded = j1.prob(g_rules, [pad(t, rng) for t in gen_resp]) > 0.5
    b = float(np.mean(padded) - np.mean(base))
    out["gate"] = {"j1_atomic_acc": atomic, "j1_params": n_params(j1.net), "b_generic_pad_shift": b}
    # ---- teacher rubrics on training pairs; the filter ----
    train = make_pairs(30_000 + seed, 4500, **TRAIN)
    keys = [(seed, 1, i) for i in range(len(train))]
    cts = [cts_rubric(p, k) for p, k in zip(train, keys)]
    ok = [self_check(p, rb, k) for p, rb, k in zip(train, cts, keys)]
    out["gate"]["filter_drop_rate"] = 1 - float(np.mean(ok))
    kept = [(p, rb) for p, rb, o in zip(train, cts, ok) if o]
    # ---- baselines ----
    bt_pairs = train[:3000]
    bt, hol = BT(seed), Holistic(seed)
    bt.train(bt_pairs, steps=2000, seed=seed)
    hol.train(bt_pairs, steps=2000, seed=seed)
    # ---- generators ----
    gens = {}
    for name, data in (("cts_G300", kept[:300]), ("cts_G1k", kept[:1000]), ("cts_G3k", kept[:3000]),
                       ("cts_nofilter_G3k", list(zip(train[:3000], cts[:3000]))),
                       ("one_step_G3k", [(p, one_step_rubric(p, k)) for p, k in zip(train[:3000], keys)]),
                       ("direct_G3k", [(p, direct_rubric(p)) for p in train[:3000]])):
        g = Generator(seed)
        g.train([d[0] for d in data], [d[1] for d in data], steps=2000, seed=seed)
        gens[name] = g
    out["n_filtered_available"] = len(kept)
    # ---- evaluation ----
    arms = {}
    for split, p_long in SPLITS.items():
        test = make_pairs(40_000 + seed * 10 + int(p_long * 2), n_test, p_long, 0.5)
        tkeys = [(seed, 2, int(p_long * 2), i) for i in range(len(test))]
        variants = {"orig": test, "swapped": [swap(p) for p in test], "padded": padded_chosen(test, seed)}
        rubric_fns = {"gold": lambda ps, ks: [discriminative(p) for p in ps],
                      "direct_T": lambda ps, ks: [direct_rubric(p) for p in ps],
                      "one_step_T": lambda ps, ks: [one_step_rubric(p, k) for p, k in zip(ps, ks)],
                      "cts_T": lambda ps, ks: [cts_rubric(p, k) for p, k in zip(ps, ks)]}
        for name, g in gens.items():
            rubric_fns[name] = (lambda ps, ks, g=g: g.rubrics(ps))
        for arm, fn in rubric_fns.items():
            res = {}
            winners = {}
            for v, ps in variants.items():
                rbs = fn(ps, tkeys)
                winners[v] = judge(j1, ps, rbs)
                if v == "orig":
                    res["precision"], res["recall"], res["size"] = precision_recall(ps, rbs)
            res.update(metrics(winners, variants))
            arms.setdefault(arm, {})[split] = res
        for arm, model in (("holistic", hol), ("bt", bt)):
            winners = {v: model.winners(ps) for v, ps in variants.items()}
            arms.setdefault(arm, {})[split] = metrics(winners, variants)
    out["arms"] = arms
    out["gate"]["bt_balanced_acc"] = arms["bt"]["balanced"]["acc"]
    out["seconds"] = time.time() - t0
    if verbose:
        print(json.dumps({"seed": seed, "gate": out["gate"], "seconds": round(out["seconds"], 1)}), flush=True)
    return out


def metrics(winners: dict, variants: dict) -> dict:
    orig, sw, padded = winners["orig"], winners["swapped"], winners["padded"]
    return {"acc": acc(orig, variants["orig"]),
            "swap_consistency": float(np.mean([(a, b) in (("A", "B"), ("B", "A")) for a, b in zip(orig, sw)])),
            "pad_flip": float(np.mean([a != b for a, b in zip(orig, padded)]))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = [run_seed(s, args.n_test) for s in args.seeds]
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
