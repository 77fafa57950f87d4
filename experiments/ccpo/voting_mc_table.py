"""Table and plot for ``voting_mc.py``: mean ± sd over seeds, and paired differences to the ``shared`` arm.

Usage: python experiments/ccpo/voting_mc_table.py [voting_mc.json] -> prints markdown, writes voting_mc.png
"""

from __future__ import annotations

import json
import statistics as st
import sys
from pathlib import Path

from credo.experiment_utils import mean_sd

OUT = Path(__file__).parent
FIELDS = ("mean_voter", "best_voter", "team_sampled", "team_greedy", "adv_right_corr")


def main() -> None:
    d = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else OUT / "voting_mc.json").read_text())
    runs = d["runs"]
    modes = list(dict.fromkeys(r["mode"] for r in runs))
    by = {(r["mode"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    print(f"{len(seeds)} seeds, {d['steps']} steps, lr {d['lr']}\n")
    print("| credit | mean voter acc | best voter acc | team acc (sampled) | team acc (greedy) "
          "| corr(A, own vote right) | team − best voter |")
    print("|---|---|---|---|---|---|---|")
    for m in modes:
        rs = [by[(m, s)] for s in seeds]
        cells = [mean_sd([r[f] for r in rs]) for f in FIELDS]
        cells.append(mean_sd([r["team_sampled"] - r["best_voter"] for r in rs]))
        print(f"| {m} | " + " | ".join(cells) + " |")
    print("\nPaired by seed, arm − shared:\n")
    print("| credit | Δ mean voter acc | Δ team acc (sampled) | Δ corr(A, own vote right) |")
    print("|---|---|---|---|")
    for m in modes:
        if m == "shared":
            continue
        diff = {f: [by[(m, s)][f] - by[("shared", s)][f] for s in seeds] for f in FIELDS}
        print(f"| {m} | {mean_sd(diff['mean_voter'])} | {mean_sd(diff['team_sampled'])} | "
              f"{mean_sd(diff['adv_right_corr'])} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    titles = ("mean voter accuracy", "team accuracy (sampled majority)", "corr(advantage, own vote right)")
    for ax, f, title in zip(axes, ("mean_voter", "team_sampled", "adv_right_corr"), titles):
        for i, m in enumerate(modes):
            v = [by[(m, s)][f] for s in seeds]
            ax.scatter([i] * len(v), v, s=12, alpha=0.6)
            ax.errorbar([i + 0.2], [st.mean(v)], yerr=[st.stdev(v)], fmt="k_", capsize=3)
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels(modes, rotation=20)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / "voting_mc.png", dpi=110)


if __name__ == "__main__":
    main()
