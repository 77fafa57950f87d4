"""Tables of Part 2 from results/: per run (stability, primary measure, outcome, E[Â | source]), every arm minus GRPO
and SAGE-RL minus each control, paired per seed with a 95% t interval. Usage: python experiments/sage/summarise.py"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from credo.experiment_utils import mean_ci95

RES = Path(__file__).parent / "results"
ARMS = ("grpo", "sage", "shortest", "truncate", "sage_phi")


def load(arm: str, seed: int) -> dict | None:
    m, r = RES / f"measure_{arm}_s{seed}.json", RES / f"metrics_{arm}_s{seed}.jsonl"
    if not (m.exists() and r.exists()):
        return None
    rows = [json.loads(x) for x in r.read_text().splitlines()]
    evals = [(x["step"], x["eval/accuracy"]) for x in rows if "eval/accuracy" in x]
    rewards = [x["reward/mean"] for x in rows if "reward/mean" in x]
    out = json.loads(m.read_text())
    s = out["sampling_500x4"]
    first, last = statistics.mean(rewards[:25]), statistics.mean(rewards[-25:])
    return {"eval": evals, "reward_first25": first, "reward_last25": last,
            "stable": evals[-1][1] >= evals[0][1] - 0.05 and last >= first - 0.05,
            "p_right": out["p_stop_right"], "p_wrong": out["p_stop_wrong"],
            "gap": out["p_stop_right"] - out["p_stop_wrong"], "acc": s["accuracy"], "think": s["think_tokens"],
            "checks": s["checks_after_right_first"],
            "adv": {k[4:-1]: v for k, v in out.items() if k.startswith("E[A|")}}


def main() -> None:
    runs = {(a, s): r for a in ARMS for s in range(5) if (r := load(a, s)) is not None}
    print("| arm | seed | greedy eval 0/50/100/150 | reward first/last 25 | stable | p(stop\\|right) | p(stop\\|wrong) "
          "| accuracy 500×4 | think tokens | checks after right first | E[Â\\|source] |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (a, s), r in runs.items():
        ev = "/".join(f"{v:.2f}" for _, v in r["eval"])
        adv = ", ".join(f"{k} {v:+.3f}" for k, v in r["adv"].items()) or "—"
        print(f"| {a} | {s} | {ev} | {r['reward_first25']:.3f}/{r['reward_last25']:.3f} "
              f"| {'yes' if r['stable'] else 'no'} "
              f"| {r['p_right']:.3f} | {r['p_wrong']:.3f} | {r['acc']:.3f} | {r['think']:.1f} | {r['checks']:.2f} "
              f"| {adv} |")
    contrasts = [(arm, "grpo") for arm in ARMS[1:]] + [("sage", arm) for arm in ARMS[2:]]
    print("\n| contrast (paired per seed) | seeds | p(stop\\|right) − p(stop\\|wrong) | p(stop\\|right) "
          "| p(stop\\|wrong) | accuracy 500×4 | think tokens |")
    print("|---|---|---|---|---|---|---|")
    for x, y in contrasts:
        seeds = [s for s in range(5) if (x, s) in runs and (y, s) in runs]
        if not seeds:
            continue
        cells = []
        for key in ("gap", "p_right", "p_wrong", "acc", "think"):
            m, lo, hi = mean_ci95(runs[(x, s)][key] - runs[(y, s)][key] for s in seeds)
            f = ".1f" if key == "think" else ".4f"
            cells.append(f"{m:+{f}} [{lo:+{f}}, {hi:+{f}}]" if len(seeds) > 1 else f"{m:+{f}}")
        print(f"| {x} − {y} | {','.join(map(str, seeds))} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
