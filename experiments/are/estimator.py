"""ARE estimator alone: error of group-centre estimators on contaminated Bernoulli rewards.

Groups of n rewards r_i ~ Bernoulli(p), p ~ U(0.1, 0.9) per group; with probability eps each reward gets additive
Student-t(1) noise of scale 5 (the B.6 protocol). For mean / median / MoM / ARE (faithful) / ARE (clean):
- MSE of the centre to the true p;
- sign-error rate of the advantages: share of *clean* samples whose sign(x_i - centre) differs from sign(r_i - p).

Usage: python experiments/are/estimator.py [--trials 1000] [--seeds 0 1 2]   -> estimator.json, estimator.png
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from credo.credit.robust_mean import robust_mean

OUT = Path(__file__).parent
METHODS = {"mean": dict(method="mean"), "median": dict(method="median"), "mom": dict(method="mom"),
           "are": dict(method="are", faithful=True), "are_clean": dict(method="are", faithful=False)}


def run(seed: int, n: int, eps: float, trials: int) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed * 1000 + int(eps * 100) + n)
    sq = {m: 0.0 for m in METHODS}
    sign_err = {m: 0 for m in METHODS}
    clean_total = 0
    for _ in range(trials):
        p = rng.uniform(0.1, 0.9)
        r = (rng.random(n) < p).astype(float)
        hit = rng.random(n) < eps
        x = r + np.where(hit, 5.0 * rng.standard_t(1.0, n), 0.0)
        xt = torch.tensor(x, dtype=torch.float64)
        truth = np.sign(r - p)
        clean_total += int((~hit).sum())
        for m, kw in METHODS.items():
            c = float(robust_mean(xt, **kw))
            sq[m] += (c - p) ** 2
            sign_err[m] += int((np.sign(x - c)[~hit] != truth[~hit]).sum())
    return {m: (sq[m] / trials, sign_err[m] / max(clean_total, 1)) for m in METHODS}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16])
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = []
    for n in args.sizes:
        for eps in (0.0, 0.1, 0.2, 0.3):
            for seed in args.seeds:
                for m, (mse, serr) in run(seed, n, eps, args.trials).items():
                    results.append({"n": n, "eps": eps, "seed": seed, "method": m, "mse": mse, "sign_error": serr})
                print(n, eps, seed, flush=True)
    (OUT / "estimator.json").write_text(json.dumps(results, indent=1))
    plot(results, args.sizes)


def plot(results, sizes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sizes), 2, figsize=(10, 3.6 * len(sizes)), squeeze=False)
    for row, n in enumerate(sizes):
        for col, key in enumerate(("mse", "sign_error")):
            ax = axes[row][col]
            for m in METHODS:
                eps = sorted({r["eps"] for r in results})
                ys = [np.mean([r[key] for r in results if r["n"] == n and r["eps"] == e and r["method"] == m])
                      for e in eps]
                ax.plot(eps, ys, marker="o", label=m)
            ax.set_xlabel("contamination rate eps")
            ax.set_ylabel(key)
            ax.set_yscale("log" if key == "mse" else "linear")
            ax.set_title(f"group size n={n}: {key}")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "estimator.png", dpi=110)


if __name__ == "__main__":
    main()
