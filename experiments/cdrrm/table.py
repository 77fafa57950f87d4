"""Markdown tables (mean ± standard error over seeds) from experiments/cdrrm/results.json, and a bar plot of
accuracy per split (results.png)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from credo.experiment_utils import mean_se

HERE = Path(__file__).parent


def main():
    runs = json.loads((HERE / "results.json").read_text())
    print(f"seeds: {[r['seed'] for r in runs]}\n")
    print("| gate | " + " | ".join(f"seed {r['seed']}" for r in runs) + " | mean |\n|---|" + "---|" * (len(runs) + 1))
    for k in ("j1_atomic_acc", "b_generic_pad_shift", "filter_drop_rate", "bt_balanced_acc"):
        vals = [r["gate"][k] for r in runs]
        print(f"| {k} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {mean_se(vals)} |")
    arms = list(runs[0]["arms"])
    print("\n| arm | precision | recall | items | acc balanced | acc length-adv | acc aligned | swap consistency "
          "| pad-flip rate |\n|---|---|---|---|---|---|---|---|---|")
    for arm in arms:
        def col(split, key, arm=arm):
            vals = [r["arms"][arm][split].get(key) for r in runs]
            return mean_se(vals) if vals[0] is not None else "–"
        print(f"| {arm} | {col('balanced', 'precision')} | {col('balanced', 'recall')} | {col('balanced', 'size')} | "
              f"{col('balanced', 'acc')} | {col('length_adv', 'acc')} | {col('aligned', 'acc')} | "
              f"{col('balanced', 'swap_consistency')} | {col('balanced', 'pad_flip')} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.27
    for k, split in enumerate(("balanced", "length_adv", "aligned")):
        means = [np.mean([r["arms"][a][split]["acc"] for r in runs]) for a in arms]
        ax.bar(np.arange(len(arms)) + (k - 1) * width, means, width, label=split)
    ax.set_xticks(np.arange(len(arms)), arms, rotation=35, ha="right")
    ax.set_ylabel("pairwise accuracy (rubric arms: frozen J1)")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "results.png", dpi=110)


if __name__ == "__main__":
    main()
