"""Markdown tables (mean ± sd over seeds) from results_<dataset>_<encoder>.json.

python experiments/unifar/table.py experiments/unifar/results_synthetic_tiny.json [--metrics map recall@5]
"""

from __future__ import annotations

import argparse
import json
import statistics


def table(path: str, metrics: list[str]) -> str:
    res = json.loads(open(path).read())
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


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--metrics", nargs="*", default=["map"])
    a = ap.parse_args()
    print(table(a.path, a.metrics))
