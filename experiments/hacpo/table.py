"""Table (markdown, stdout) and plot (hacpo.png) from results.jsonl: mean ± sd over seeds per arm and agent.

python experiments/hacpo/table.py [results.jsonl] [--no-plot]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from credo.experiment_utils import mean_sd

HERE = Path(__file__).parent
AGENTS = ("weak", "strong")


def load(name: str = "results.jsonl") -> dict[str, list[dict]]:
    by_arm: dict[str, list[dict]] = {}
    for line in (HERE / name).read_text().splitlines():
        r = json.loads(line)
        by_arm.setdefault(r["arm"], []).append(r)
    return by_arm


def table(by_arm: dict[str, list[dict]]) -> str:
    gspo = {r["seed"]: r for r in by_arm.get("gspo", [])}
    head = ["arm (seeds)", "rollouts/step"] + [f"{a} final" for a in AGENTS] + [f"{a} Δ vs GSPO" for a in AGENTS] + \
        [f"{a} Δ vs start" for a in AGENTS] + ["weak cross survive", "strong cross survive"] + \
        [f"{a} acc / 1k rollouts" for a in AGENTS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, rs in by_arm.items():
        row = [f"{arm} ({len(rs)})", f"{rs[0]['rollouts'] / 100:.0f}"]
        row += [mean_sd([r["final"][a] for r in rs]) for a in AGENTS]
        for a in AGENTS:
            d = [r["final"][a] - gspo[r["seed"]]["final"][a] for r in rs if r["seed"] in gspo]
            row.append(f"{statistics.mean(d):+.3f}" if d else "–")
        row += [f"{statistics.mean(r['final'][a] - r['start'][a] for r in rs):+.3f}" for a in AGENTS]
        for a in AGENTS:
            v = [1 - r["diag"][f"{a}/cross_clipfrac_low"] - r["diag"][f"{a}/cross_clipfrac_high"] for r in rs
                 if f"{a}/cross_clipfrac_low" in r.get("diag", {})]
            row.append(f"{statistics.mean(v):.2f}" if v else "–")
        row += [f"{statistics.mean(r['final'][a] / (r['rollouts'] / 1000) for r in rs):.4f}" for a in AGENTS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(by_arm: dict[str, list[dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(by_arm)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    w = 0.38
    for i, a in enumerate(AGENTS):
        means = [statistics.mean(r["final"][a] for r in by_arm[x]) for x in arms]
        sds = [statistics.stdev(r["final"][a] for r in by_arm[x]) if len(by_arm[x]) > 1 else 0 for x in arms]
        ax.bar([j + (i - 0.5) * w for j in range(len(arms))], means, w, yerr=sds, capsize=3, label=a)
        start = statistics.mean(r["start"][a] for r in by_arm[arms[0]])
        ax.axhline(start, ls=":", color=f"C{i}", lw=1)
    ax.set_xticks(range(len(arms)), [f"{x}\n({by_arm[x][0]['rollouts'] / 100:.0f} rollouts/step)" for x in arms],
                  fontsize=7)
    ax.set_ylabel("held-out greedy accuracy (each agent alone)")
    ax.set_title("HACPO miniature: 2-digit addition, 100 RL steps, mean ± sd over seeds (dotted: after SFT)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "hacpo.png", dpi=120)


def per_seed(by_arm: dict[str, list[dict]]) -> str:
    """Start (after SFT) and final accuracy per seed: the agents' order of capability is not the same every seed."""
    arms = list(by_arm)
    seeds = sorted({r["seed"] for rs in by_arm.values() for r in rs})
    lines = ["| seed | start weak / strong | " + " | ".join(arms) + " |", "|" + "---|" * (len(arms) + 2)]
    for sd in seeds:
        rs = {a: next(r for r in by_arm[a] if r["seed"] == sd) for a in arms}
        st = rs[arms[0]]["start"]
        cells = [f"{rs[a]['final']['weak']:.3f} / {rs[a]['final']['strong']:.3f}" for a in arms]
        lines.append(f"| {sd} | {st['weak']:.3f} / {st['strong']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    res = load(args[0] if args else "results.jsonl")
    print(table(res))
    print()
    print(per_seed(res))
    if "--no-plot" not in sys.argv:
        plot(res)
