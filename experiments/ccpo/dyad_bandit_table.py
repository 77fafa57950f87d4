"""Table and plot from dyad_bandit.json: each arm against `shared`, paired by seed.

Usage: python experiments/ccpo/dyad_bandit_table.py [dyad_bandit.json] -> markdown on stdout, dyad_bandit.png
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent


def main() -> None:
    data = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else OUT / "dyad_bandit.json").read_text())
    by = defaultdict(dict)
    for r in data["runs"]:
        by[r["arm"]][r["seed"]] = r
    seeds, steps = sorted(by["shared"]), data["steps"]

    def col(arm: str, k: str) -> np.ndarray:
        return np.array([by[arm][s][k] for s in seeds], dtype=float)

    def hits(arm: str) -> np.ndarray:
        return np.array([steps if by[arm][s]["steps_to_target"] is None else by[arm][s]["steps_to_target"]
                         for s in seeds], dtype=float)

    print(f"{len(seeds)} seeds, {steps} steps, lr {data['lr']}, target joint accuracy {data['target']}; "
          "Δ = arm − shared, mean ± sd over paired seeds (paired t)\n")
    print("| arm | corr(A_T, c) | sign agree | steps to target (median, misses) | Δsteps (t) | final joint | "
          "final solo | lazy gap |")
    print("|---|---|---|---|---|---|---|---|")
    for arm in by:
        d = hits(arm) - hits("shared")
        sd = d.std(ddof=1)
        t = d.mean() / (sd / np.sqrt(len(d))) if sd > 0 else 0.0
        miss = sum(by[arm][s]["steps_to_target"] is None for s in seeds)
        print(f"| {arm} | {col(arm, 'corr').mean():.3f} ± {col(arm, 'corr').std(ddof=1):.3f} "
              f"| {col(arm, 'sign_agree').mean():.3f} | {np.median(hits(arm)):.0f} ({miss}) "
              f"| {d.mean():+.1f} ± {sd:.1f} ({t:+.1f}) | {col(arm, 'final_joint').mean():.3f} "
              f"| {col(arm, 'final_solo').mean():.3f} | {col(arm, 'lazy_gap').mean():.3f} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in by:
        curves = np.array([by[arm][s]["curve"] for s in seeds])
        ax.plot(np.arange(curves.shape[1]) * max(steps // 40, 1), curves.mean(0), label=arm,
                ls="--" if arm == "v2_grpo" else "-")  # v2_grpo lies exactly on shared
    ax.axhline(data["target"], color="grey", lw=0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("expected joint accuracy")
    ax.set_title(f"tabular dyad, mean of {len(seeds)} seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "dyad_bandit.png", dpi=110)


if __name__ == "__main__":
    main()
