"""Table from state_hetero.jsonl (+ the probe and calibration files): each arm against `gspo`, paired by seed.

Usage: python experiments/hacpo/state_table.py -> markdown on stdout, state_hetero.png
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
AGENTS = ("weak", "strong")


def rows(name: str) -> list[dict]:
    p = HERE / name
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def diag(runs: dict, seeds: list[int], key: str) -> str:
    """Mean over seeds of a per-learner diagnostic, 'weak / strong' ('—' where an arm has none)."""
    vals = [[runs[s]["diag"].get(f"{a}/{key}") for s in seeds] for a in AGENTS]
    return " / ".join("—" if None in v else f"{np.mean(v):.3f}" for v in vals)


def main() -> None:
    print("### Checkpoints (one SFT run per seed; nearest snapshot to 0.15 / 0.50 greedy accuracy on 1000 prompts)\n")
    print("| seed | weak step | weak acc | strong step | strong acc |\n|---|---|---|---|---|")
    for r in rows("state_probe.jsonl"):
        c = r["chosen"]
        print(f"| {r['seed']} | {c['weak']['step']} | {c['weak']['acc']:.3f} | {c['strong']['step']} "
              f"| {c['strong']['acc']:.3f} |")
    cal = rows("state_calibration.jsonl")
    if cal:
        print("\n### GSPO lr calibration (gain = final − start, greedy, 1000 held-out prompts)\n")
        print("| lr | seed | weak gain | strong gain |\n|---|---|---|---|")
        for r in cal:
            print(f"| {r['lr']} | {r['seed']} | {r['final']['weak'] - r['start']['weak']:+.3f} "
                  f"| {r['final']['strong'] - r['start']['strong']:+.3f} |")
    by = defaultdict(dict)
    for r in rows("state_hetero.jsonl"):
        by[r["arm"]][r["seed"]] = r
    if "gspo" not in by:
        return
    seeds = sorted(by["gspo"])
    print(f"\n### Arms ({len(seeds)} seeds; Δ = arm − gspo, mean ± sd over paired seeds, paired t)\n")
    print("| arm | weak final | weak Δ (t) | strong final | strong Δ (t) | correct cross samples with a gradient "
          "(weak / strong learner) | cross ratio mean (weak / strong) |")
    print("|---|---|---|---|---|---|---|")
    for arm, runs in by.items():
        common = [s for s in seeds if s in runs]
        cells = []
        for a in AGENTS:
            fin = np.array([runs[s]["final"][a] for s in common])
            d = fin - np.array([by["gspo"][s]["final"][a] for s in common])
            sd = d.std(ddof=1) if len(d) > 1 else 0.0
            t = d.mean() / (sd / np.sqrt(len(d))) if sd > 0 else 0.0
            cells += [f"{fin.mean():.3f}", f"{d.mean():+.3f} ± {sd:.3f} ({t:+.1f})"]

        print(f"| {arm} ({len(common)}) | " + " | ".join(cells)
              + f" | {diag(runs, common, 'cross_correct_grad_frac')} | {diag(runs, common, 'cross_ratio_mean')} |")



    plot(by, seeds)


def plot(by: dict, seeds: list[int]) -> None:
    """Paired gain over gspo per arm and agent, mean ± sd over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in by if a != "gspo"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for j, agent in enumerate(AGENTS):
        d = [[by[a][s]["final"][agent] - by["gspo"][s]["final"][agent] for s in seeds if s in by[a]] for a in arms]
        ax.bar(np.arange(len(arms)) + 0.4 * j, [np.mean(x) for x in d], 0.4, yerr=[np.std(x) for x in d],
               label=f"{agent} agent")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xticks(np.arange(len(arms)) + 0.2, arms)
    ax.set_ylabel("held-out accuracy − gspo")
    ax.set_title(f"state heterogeneity, {len(seeds)} paired seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "state_hetero.png", dpi=110)


if __name__ == "__main__":
    main()
