"""Tables for results.md from grpo_noise*.json: mean ± sd over seeds per (noise, baseline)."""

import json
import sys
from pathlib import Path

from credo.experiment_utils import mean_sd

HERE = Path(__file__).parent


def main(name: str = "grpo_noise") -> None:
    res = json.loads((HERE / f"{name}.json").read_text())
    print("| noise p | baseline | clean score, first 10 steps | clean score, last 10 steps | held-out after | "
          "grad spikes (all seeds) | max grad norm | diverged |")
    print("|---|---|---|---|---|---|---|---|")
    for p in sorted({r["noise_p"] for r in res}):
        for b in ("mean", "are", "median"):
            rs = [r for r in res if r["noise_p"] == p and r["baseline"] == b]
            print(f"| {p} | {b} | {mean_sd(r['score_first10'] for r in rs)} | "
                  f"{mean_sd(r['score_last10'] for r in rs)} | "
                  f"{mean_sd(r['eval_after'] for r in rs)} | {sum(r['grad_spikes'] for r in rs)} | "
                  f"{max(r['grad_max'] for r in rs):.2f} | {sum(r['diverged'] for r in rs)}/{len(rs)} |")
    print()
    for p in sorted({r["noise_p"] for r in res}):
        for b in ("mean", "are", "median"):
            rs = [r for r in res if r["noise_p"] == p and r["baseline"] == b]
            print(f"p={p} {b} last-10 per seed: " + ", ".join(f"{r['score_last10']:.3f}" for r in rs) + "  ")


if __name__ == "__main__":
    main(*sys.argv[1:])
