"""Table for results.md from results.json: mean ± sd over seeds, before (warm start) and after RL."""

import json
from pathlib import Path

from credo.experiment_utils import mean_sd

HERE = Path(__file__).parent
KEYS = ["eval/accuracy", "critic_accuracy", "eval/p/answer_accuracy", "eval/p/rewrite_accuracy",
        "eval/q/answer_accuracy", "eval/q/rewrite_accuracy"]


def main():
    res = json.loads((HERE / "results.json").read_text())
    arms = list(dict.fromkeys(r["arm"] for r in res))
    print(f"seeds {sorted({r['seed'] for r in res})}\n")
    print("| arm | " + " | ".join(k.replace("eval/", "") for k in KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    first = [r for r in res if r["arm"] == arms[0]]
    print("| warm start | " + " | ".join(mean_sd(r["before"][k] for r in first) for k in KEYS) + " |")
    for a in arms:
        rs = [r for r in res if r["arm"] == a]
        print(f"| {a} | " + " | ".join(mean_sd(r["after"][k] for r in rs) for k in KEYS) + " |")
    for a in arms:
        print(f"\n{a} per seed (mean rewrite acc, critic acc): " + ", ".join(
            f"{r['after']['eval/accuracy']:.3f}/{r['after']['critic_accuracy']:.3f}" for r in res if r["arm"] == a))


if __name__ == "__main__":
    main()
