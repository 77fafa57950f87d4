"""Tables and a plot from critic_bandit.json: cross_improvement vs shared, paired by seed.

Usage: python experiments/dacr/critic_table.py [critic_bandit.json] -> markdown on stdout, critic_bandit.png
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent


def noise_name(noise) -> str:
    df, scale, rate = noise
    return "clean" if not rate else f"t({df:g})×{scale:g} @ {rate:g}"


def col(arm: dict, seeds: list[int], k: str) -> np.ndarray:
    return np.array([arm[s][k] for s in seeds], dtype=float)


def hits(arm: dict, seeds: list[int], steps: int) -> np.ndarray:
    """Steps to the target per seed (the budget when it was not reached)."""
    return np.array([steps if arm[s]["steps_to_target"] is None else arm[s]["steps_to_target"] for s in seeds],
                    dtype=float)


def misses(arm: dict, seeds: list[int]) -> int:
    return sum(arm[s]["steps_to_target"] is None for s in seeds)


def main() -> None:
    data = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else OUT / "critic_bandit.json").read_text())
    cells = defaultdict(dict)
    for r in data["runs"]:
        cells[(r["n"], noise_name(r["noise"]), r["start"], r["scale"])].setdefault(r["mode"], {})[r["seed"]] = r
    steps = data["steps"]
    print(f"steps {steps}, target {data['target']}, lr {data['lr']}; paired differences are cross − shared "
          "(mean ± sd over seeds, and mean / paired standard error)\n")
    print("| n | noise | start | adv. | corr(A, right) shared / cross | sign agree shared / cross | "
          "steps to target shared / cross | Δsteps (t) | final acc shared / cross |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(cells):
        sh, cr = cells[key]["shared"], cells[key]["cross_improvement"]
        seeds = sorted(sh)
        d = hits(cr, seeds, steps) - hits(sh, seeds, steps)
        t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d))) if d.std(ddof=1) > 0 else 0.0
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} "
              f"| {col(sh, seeds, 'corr').mean():.3f} / {col(cr, seeds, 'corr').mean():.3f}"
              f" | {col(sh, seeds, 'sign_agree').mean():.3f} / {col(cr, seeds, 'sign_agree').mean():.3f}"
              f" | {np.median(hits(sh, seeds, steps)):.0f} ({misses(sh, seeds)} miss)"
              f" / {np.median(hits(cr, seeds, steps)):.0f} ({misses(cr, seeds)} miss)"
              f" | {d.mean():+.1f} ± {d.std(ddof=1):.1f} ({t:+.1f})"
              f" | {col(sh, seeds, 'final_acc').mean():.3f} / {col(cr, seeds, 'final_acc').mean():.3f} |")
    plot(data, cells)


def plot(data, cells) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey=True)
    for ax, (start, scale) in zip(axes.flat, [(s, a) for s in ("uniform", "lazy") for a in ("grpo", "dr_grpo")]):
        for noise, style in (("clean", "-"), ("t(1)×5 @ 0.2", ":")):
            key = (16, noise, start, scale)
            if key not in cells:
                continue
            for mode, colour in (("shared", "tab:blue"), ("cross_improvement", "tab:orange")):
                curves = np.array([r["acc_curve"] for r in cells[key][mode].values()])
                x = np.arange(curves.shape[1]) * max(data["steps"] // 30, 1)
                ax.plot(x, curves.mean(0), style, color=colour, label=f"{mode}, {noise}")
        ax.set_title(f"start {start}, {scale}, n = 16")
        ax.axhline(data["target"], color="grey", lw=0.5)
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for ax in axes[:, 0]:
        ax.set_ylabel("expected critic accuracy")
    fig.tight_layout()
    fig.savefig(OUT / "critic_bandit.png", dpi=110)


if __name__ == "__main__":
    main()
