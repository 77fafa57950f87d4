"""Probe 2: like probe.py, but the SFT warm start is computed once per (seed, SFT settings) and cached, so several
GRPO settings can be compared from the same SFT policy. The SFT is the one RLTrainer runs (``warm_start``); the
cached weights are loaded into an RLTrainer built with ``sft.steps=0``.

Usage: probe2.py SEEDS EVAL_EVERY 'common k=v ...' 'variant1 k=v ...' ['variant2 k=v ...' ...]
Each variant string is a space-separated list of overrides on top of the common ones ('-' = none).
"""

import hashlib
import json
import os
import sys
import tempfile
import time

import torch

from credo.config import load_config
from credo.experiment_utils import int_list
from credo.train.rl import RLTrainer

BASE = ["log.tensorboard=false", "log.progress=false", "train.threads=1", "eval.pass_k=0", "log.report=false"]
CACHE = os.environ.get("SFT_CACHE", "/tmp/sftcache")


def sft_key(seed: int, ov: list[str]) -> str:
    keep = sorted(o for o in ov if o.split("=")[0].split(".")[0] in ("task", "sft", "model"))
    return hashlib.sha1(json.dumps([seed, keep]).encode()).hexdigest()[:12]


def trainer(seed: int, ov: list[str], d: str) -> tuple[RLTrainer, float]:
    common = BASE + [f"train.seed={seed}", f"task.seed={seed}", f"log.output_dir={d}"]
    path = os.path.join(CACHE, sft_key(seed, ov) + ".pt")
    t0 = time.perf_counter()
    if not os.path.exists(path):
        tr = RLTrainer(load_config(None, common + ov), overwrite=True)
        torch.save(tr.model.state_dict(), path)
        return tr, time.perf_counter() - t0
    tr = RLTrainer(load_config(None, common + ov + ["sft.steps=0"]), overwrite=True)
    sd = torch.load(path)
    tr.model.load_state_dict(sd)
    if tr.learner.ref is not None:
        tr.learner.ref.load_state_dict(sd)
    tr.cfg.sft.steps = int([o for o in ov if o.startswith("sft.steps=")][-1].split("=")[1])
    return tr, 0.0


def run(seed: int, every: int, ov: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tr, t_sft = trainer(seed, ov, d)
        ev = tr.evaluate()
        accs, scores, rewards = [ev["eval/accuracy"]], [ev["eval/score_mean"]], []
        samp = [ev.get("eval/sampled_accuracy", -1.0)]
        t1 = time.perf_counter()
        for s in range(tr.cfg.train.steps):
            rewards.append(tr.train_step()["reward/mean"])
            if (every and (s + 1) % every == 0) or s + 1 == tr.cfg.train.steps:
                ev = tr.evaluate()
                accs.append(ev["eval/accuracy"])
                scores.append(ev["eval/score_mean"])
                samp.append(ev.get("eval/sampled_accuracy", -1.0))
        t_rl = time.perf_counter() - t1
    k = max(1, len(rewards) // 5)
    out = {"seed": seed, "acc": [round(a, 3) for a in accs], "gain": round(accs[-1] - accs[0], 3),
           "score": [round(a, 3) for a in scores], "sampled_acc": [round(a, 3) for a in samp],
           "sampled_gain": round(samp[-1] - samp[0], 3),
           "reward_first": round(sum(rewards[:k]) / k, 3), "reward_last": round(sum(rewards[-k:]) / k, 3),
           "t_sft": round(t_sft, 1), "t_rl": round(t_rl, 1)}
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    seeds = int_list(sys.argv[1])
    every = int(sys.argv[2])
    common = sys.argv[3].split()
    for var in sys.argv[4:]:
        ov = common + ([] if var == "-" else var.split())
        print("#", var, flush=True)
        res = [run(s, every, ov) for s in seeds]
        gains = [r["gain"] for r in res]
        print(json.dumps({"variant": var, "mean_gain": round(sum(gains) / len(gains), 3), "gains": gains,
                          "before": [r["acc"][0] for r in res], "after": [r["acc"][-1] for r in res]}), flush=True)
