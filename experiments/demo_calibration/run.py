"""One calibration run of the demo recipe: ``run.py SEED OUT.jsonl key=value ...``.

Builds the demo recipe with the overrides (``train.seed`` and ``task.seed`` = SEED), runs SFT + GRPO through
``RLTrainer.run`` (evaluations every ``eval.every`` steps) and appends one JSON line to OUT.jsonl: the overrides, the
held-out greedy / sampled accuracy and pass@k at every evaluation, the first/last-fifth mean training reward and the
wall time.
"""

import json
import sys
import tempfile
import time

from credo.config import load_config, recipe_path
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer


def main() -> None:
    seed, out, overrides = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(recipe_path("demo"), [*overrides, f"train.seed={seed}", f"task.seed={seed}",
                                                f"log.output_dir={tmp}/run", "log.tensorboard=false",
                                                "log.progress=false"])
        RLTrainer(cfg).run()
        rows = read_metrics(f"{tmp}/run/metrics.jsonl")
    evals = [r for r in rows if "eval/accuracy" in r]
    rewards = [r["reward/mean"] for r in rows if "reward/mean" in r]
    k = max(1, len(rewards) // 5)
    rec = {"seed": seed, "overrides": overrides,
           "greedy": [round(r["eval/accuracy"], 3) for r in evals],
           "sampled": [round(r.get("eval/sampled_accuracy", float("nan")), 3) for r in evals],
           "pass_k": [round(next((v for key, v in r.items() if key.startswith("eval/pass@")), float("nan")), 3)
                      for r in evals],
           "eval_steps": [r["step"] for r in evals],
           "reward_first_last": [round(sum(rewards[:k]) / k, 3), round(sum(rewards[-k:]) / k, 3)],
           "sft_loss": [rows[0].get("sft/loss_first"), rows[0].get("sft/loss_last")],
           "wall_s": round(time.time() - t0, 1)}
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
