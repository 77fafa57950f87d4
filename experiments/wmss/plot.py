"""calibration.png: held-out EM over the SFT run of each seed (M0 and M1 marked, the A.6 plateau band shaded) and
arm (a)'s margin / non-target gradient mass over its extra steps.

    python experiments/wmss/plot.py [results folder]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results"
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("seed*.json"))]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.axhspan(0.35, 0.85, color="0.9", label="gate: plateau EM band")
    for r in runs:
        steps, em = zip(*r["sft"]["curve"])
        line, = ax.plot(steps, em, marker=".", label=f"seed {r['seed']}")
        ax.scatter([r["sft"]["m0_step"]], [dict(r["sft"]["curve"])[r["sft"]["m0_step"]]], marker="v", s=80,
                   color=line.get_color(), label=f"seed {r['seed']} M0")
        ax.scatter([r["sft"]["m1_step"]], [em[-1]], marker="*", s=120, color=line.get_color(),
                   label=f"seed {r['seed']} M1")
        if "a" in r["arms"]:
            c = r["arms"]["a"]["curve"]
            bx.plot([x["step"] for x in c], [x["margin"] for x in c], color=line.get_color(),
                    label=f"seed {r['seed']} margin")
            bx2 = bx.twinx() if not hasattr(bx, "twin") else bx.twin
            bx.twin = bx2
            bx2.plot([x["step"] for x in c], [x["nontarget_grad_mass"] for x in c], "--", color=line.get_color())
    ax.set(xlabel="SFT step", ylabel="held-out greedy EM", title="SFT to the plateau (3+3-digit addition, 1.9M)")
    ax.legend(fontsize=7)
    bx.set(xlabel="extra step of arm (a)", ylabel="target − mean non-target logit (solid)",
           title="arm (a) continued SFT")
    if hasattr(bx, "twin"):
        bx.twin.set_ylabel("non-target gradient mass (dashed)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder.parent / "calibration.png", dpi=110)


if __name__ == "__main__":
    main()
