"""Tables and plot from results_cued.json: MAP by question type and facet group, paired differences against
joint_no_anchors and unifar, gate values by question type.

Usage: python experiments/unifar/cued_table.py [results_cued.json] -> markdown on stdout, map_cued.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
GROUPS = ["question:global", "question:facet1", "question:facet2", "facet:background", "facet:method", "facet:result"]
PAIRS = [("unifar", "joint_no_anchors"), ("fixed_gate", "unifar"), ("no_kl", "unifar")]


def per_seed(res: dict, arm: str, group: str) -> dict[str, float]:
    return {s: r["map"][group] for s, r in res.get(arm, {}).items() if group in r["map"]}


def main() -> None:
    res = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else HERE / "results_cued.json").read_text())
    arms = [a for a in ("bm25", "untrained", "joint_no_anchors", "unifar", "fixed_gate", "no_kl") if a in res]
    n = len(res.get("unifar", {}))
    print(f"MAP on the test split, mean ± sd over seeds ({n} seeds; bm25 and untrained per seed too), "
          f"{res.get('_steps')} steps\n")
    print("| arm | " + " | ".join(GROUPS) + " |\n|---|" + "---|" * len(GROUPS))
    for a in arms:
        cells = []
        for g in GROUPS:
            v = np.array(list(per_seed(res, a, g).values()))
            cells.append(f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}")
        print(f"| {a} ({len(res[a])}) | " + " | ".join(cells) + " |")
    print("\nPaired differences (mean ± sd over seeds, paired t)\n")
    print("| comparison | " + " | ".join(GROUPS) + " |\n|---|" + "---|" * len(GROUPS))
    for a, b in PAIRS:
        if a not in res or b not in res:
            continue
        cells = []
        for g in GROUPS:
            x, y = per_seed(res, a, g), per_seed(res, b, g)
            d = np.array([x[s] - y[s] for s in x if s in y])
            sd = d.std(ddof=1)
            cells.append(f"{d.mean():+.3f} ± {sd:.3f} ({d.mean() / (sd / np.sqrt(len(d))):+.1f})")
        print(f"| {a} − {b} | " + " | ".join(cells) + " |")
    print("\nGate β and facet mass by question type (mean over seeds; β over each test question's relevant documents "
          "/ over all documents; p_on_asked = mass of p(k|q) on the question's facets)\n")
    print("| arm | question type | β relevant | β all | p on asked facets |\n|---|---|---|---|---|")
    for a in ("unifar", "fixed_gate", "no_kl"):
        for g in GROUPS[:3]:
            vals = [r["gate"][g] for r in res.get(a, {}).values() if "gate" in r and g in r["gate"]]
            if vals:
                m = {k: np.mean([v[k] for v in vals]) for k in vals[0]}
                print(f"| {a} | {g.split(':')[1]} | {m['beta_relevant']:.3f} | {m['beta_all']:.3f} "
                      f"| {m['p_on_asked']:.3f} |")
    plot(res, arms)


def plot(res: dict, arms: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4))
    w = 0.8 / len(arms)
    for i, a in enumerate(arms):
        means = [np.mean(list(per_seed(res, a, g).values())) for g in GROUPS]
        sds = [np.std(list(per_seed(res, a, g).values())) for g in GROUPS]
        ax.bar(np.arange(len(GROUPS)) + i * w, means, w, yerr=sds, label=a)
    ax.set_xticks(np.arange(len(GROUPS)) + 0.4 - w / 2, GROUPS, fontsize=8)
    ax.set_ylabel("MAP")
    ax.set_title("UniFAR on the cue-only paraphrased synthetic set (tiny encoder)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "map_cued.png", dpi=110)


if __name__ == "__main__":
    main()
