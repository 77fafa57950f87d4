"""Tables (mean ± SE over seeds, paired differences against MoSLoRA) and Pareto plots from arms_<size>_seed<s>.json.

Usage: python experiments/uniarm/summarise.py 2000   → prints a markdown table, writes pareto_<size>_seed<s>.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from credo.arm.evaluate import REFERENCE, pareto_plot
from credo.arm.metrics import hypervolume

HERE = Path(__file__).parent
NAMES = ["genarm", "pblora", "moslora", "moslora_onehot"]


def main(size: int) -> None:
    runs = [json.loads(p.read_text()) for p in sorted(HERE.glob(f"arms_{size}_seed*.json"))]
    runs = [r for r in runs if all(n in r for n in NAMES)]
    if not runs:
        print(f"no complete runs for size {size}")
        return
    for r in runs:
        pareto_plot(HERE / f"pareto_{size}_seed{r['seed']}.png",
                    {n: r[n]["means"] for n in NAMES} | {"oracle": r["oracle"]["means"]}, base=r["base"])

    def stat(vals):
        v = np.asarray(vals, dtype=float)
        se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
        return f"{v.mean():.3f} ± {se:.3f}"

    print(f"size {size}, seeds {[r['seed'] for r in runs]}, prompts × samples per λ: "
          f"{runs[0]['prompts']} × {runs[0]['samples']}, oracle HV {stat([r['oracle']['hv'] for r in runs])}")
    print("| arm | trainable params | HV/HV_oracle | MIP | mono help | mono harmless | dist to oracle | "
          "acc help | acc harmless | tokens/s | Δ HV/HV_or vs moslora (paired) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in NAMES:
        diff = [r[n]["hv_ratio"] - r["moslora"]["hv_ratio"] for r in runs]
        print(f"| {n} | {runs[0][n]['trainable_parameters']} | {stat([r[n]['hv_ratio'] for r in runs])} | "
              f"{stat([r[n]['mip'] for r in runs])} | {stat([r[n]['monotonicity'][0] for r in runs])} | "
              f"{stat([r[n]['monotonicity'][1] for r in runs])} | {stat([r[n]['oracle_distance'] for r in runs])} | "
              f"{stat([r[n].get('eval/accuracy_help', np.nan) for r in runs])} | "
              f"{stat([r[n].get('eval/accuracy_harmless', np.nan) for r in runs])} | "
              f"{stat([r[n]['tokens_per_s'] for r in runs])} | {stat(diff) if n != 'moslora' else '—'} |")
    print(f"| oracle | — | 1 | {stat([r['oracle']['mip'] for r in runs])} | "
          f"{stat([r['oracle']['monotonicity'][0] for r in runs])} | "
          f"{stat([r['oracle']['monotonicity'][1] for r in runs])} | 0 | — | — | "
          f"{stat([r['oracle']['tokens_per_s'] for r in runs])} | — |")
    ratio = [hypervolume(np.array([r["base"]]), np.array(REFERENCE)) / r["oracle"]["hv"] for r in runs]
    print(f"| base (unguided, one point) | 0 | {stat(ratio)} | — | — | — | — | — | — | — | — |")
    if all("label_ceiling" in r for r in runs):
        print("held-out label-noise accuracy ceiling: help "
              f"{stat([r['label_ceiling']['help'] for r in runs])}, harmless "
              f"{stat([r['label_ceiling']['harmless'] for r in runs])}")
    if size != 2000:
        compare(runs)


def compare(runs: list[dict]) -> None:
    """Paired change from the 2k run of the same seed (same oracle, decoding seeds and base point)."""
    pairs = [(r, json.loads((HERE / f"arms_2000_seed{r['seed']}.json").read_text())) for r in runs
             if (HERE / f"arms_2000_seed{r['seed']}.json").exists()]
    for n in NAMES:
        rows = [f"seed {r['seed']}: {s[n]['hv_ratio']:.3f} → {r[n]['hv_ratio']:.3f}" for r, s in pairs]
        print(f"{n} HV/HV_oracle 2k → this size: " + "; ".join(rows))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
