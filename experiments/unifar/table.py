"""Markdown tables (mean ± sd over seeds) and bar plots from results_<dataset>_<encoder>*.json.

python experiments/unifar/table.py experiments/unifar/results_synthetic_tiny.json [--metrics map recall@5] \
    [--plot X.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def load(path: str) -> dict:
    """{arm: {seed: {group: {metric: value}}}}, without the ``_commands`` record."""
    return {k: v for k, v in json.loads(open(path).read()).items() if not k.startswith("_")}


def table(path: str, metrics: list[str]) -> str:
    res = load(path)
    groups = sorted({g for arm in res.values() for s in arm.values() for g in s})
    head = ["arm (n seeds)"] + [f"{g} {m}" for g in groups for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, seeds in res.items():
        row = [f"{arm} ({len(seeds)})"]
        for g in groups:
            for m in metrics:
                v = [s[g][m] for s in seeds.values() if g in s]
                if not v:
                    row.append("–")
                elif len(v) == 1:
                    row.append(f"{v[0]:.3f}")
                else:
                    row.append(f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(results: dict, out: Path, title: str, metric: str = "map") -> None:
    """Bars of ``metric`` per query group and arm, mean ± sd over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in results if not a.startswith("_")]
    groups = sorted({g for arm in arms for s in results[arm].values() for g in s})
    fig, ax = plt.subplots(figsize=(1.6 * len(groups) + 3, 3.5))
    w = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        vals = [[s[g][metric] for s in results[arm].values() if g in s] for g in groups]
        mean = [statistics.mean(v) if v else 0 for v in vals]
        err = [statistics.stdev(v) if len(v) > 1 else 0 for v in vals]
        ax.bar([j + i * w for j in range(len(groups))], mean, w, yerr=err, label=arm, capsize=2)
    ax.set_xticks([j + 0.4 - w / 2 for j in range(len(groups))], groups)
    ax.set_ylabel(metric.upper())
    ax.set_title(f"{title}; mean ± sd over seeds")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--metrics", nargs="*", default=["map"])
    ap.add_argument("--plot", help="also write a MAP bar plot here")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    print(table(a.path, a.metrics))
    if a.plot:
        plot(load(a.path), Path(a.plot), a.title or Path(a.path).stem)
