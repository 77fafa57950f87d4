"""Probe: SFT warm start, then GRPO through RLTrainer; held-out greedy accuracy before/after.

Usage: probe.py SEEDS EVAL_EVERY key=value ...   (SEEDS like 0,1,2; each seed sets train.seed and task.seed)
"""

import json
import sys
import tempfile
import time

from credo.config import load_config
from credo.experiment_utils import int_list
from credo.train.rl import RLTrainer

BASE = ["log.tensorboard=false", "log.progress=false", "train.threads=1", "eval.pass_k=0", "log.report=false"]


def run(seed: int, every: int, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(None, BASE + [f"train.seed={seed}", f"task.seed={seed}", f"log.output_dir={d}"] + overrides)
        t0 = time.perf_counter()
        tr = RLTrainer(cfg, overwrite=True)
        t_sft = time.perf_counter() - t0
        accs = [tr.evaluate()["eval/accuracy"]]
        rewards = []
        t1 = time.perf_counter()
        for s in range(cfg.train.steps):
            rewards.append(tr.train_step()["reward/mean"])
            if (every and (s + 1) % every == 0) or s + 1 == cfg.train.steps:
                accs.append(tr.evaluate()["eval/accuracy"])
        t_rl = time.perf_counter() - t1
    k = max(1, len(rewards) // 5)
    out = {
        "seed": seed,
        "acc": [round(a, 3) for a in accs],
        "gain": round(accs[-1] - accs[0], 3),
        "reward_first": round(sum(rewards[:k]) / k, 3),
        "reward_last": round(sum(rewards[-k:]) / k, 3),
        "t_sft": round(t_sft, 1),
        "t_rl": round(t_rl, 1),
    }
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    seeds = int_list(sys.argv[1])
    every = int(sys.argv[2])
    ov = sys.argv[3:]
    print("#", " ".join(ov), flush=True)
    res = [run(s, every, ov) for s in seeds]
    gains = [r["gain"] for r in res]
    print(
        json.dumps(
            {
                "mean_gain": round(sum(gains) / len(gains), 3),
                "gains": gains,
                "before": [r["acc"][0] for r in res],
                "after": [r["acc"][-1] for r in res],
            }
        ),
        flush=True,
    )
