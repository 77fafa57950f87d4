"""accuracy.png: held-out greedy and sampled accuracy vs GRPO step for seeds 0-4 (from runs.jsonl + seeds.jsonl)."""

import json
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

HERE = Path(__file__).parent
SHIPPED = ['task.kwargs={"length":3,"teacher_accuracy":0.5}', "sft.steps=400"]  # seed 0 = the shipped recipe


def main() -> None:
    rows = [r for r in map(json.loads, (HERE / "runs.jsonl").read_text().splitlines()) if r["overrides"] == SHIPPED]
    rows += list(map(json.loads, (HERE / "seeds.jsonl").read_text().splitlines()))
    fig = Figure(figsize=(9, 3.4))
    FigureCanvasAgg(fig)
    for i, (key, title) in enumerate([("greedy", "greedy"), ("sampled", "sampled (pass@1 at T = 1)")]):
        ax = fig.add_subplot(1, 2, i + 1)
        for r in rows:
            ax.plot(r["eval_steps"], r[key], marker="o", markersize=3, label=f"seed {r['seed']}")
        ax.set_title(f"held-out accuracy, {title}", fontsize=10)
        ax.set_xlabel("GRPO step")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "accuracy.png", dpi=90, metadata={"Software": None})


if __name__ == "__main__":
    main()
