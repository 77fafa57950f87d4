"""Three agents on SmolLM2-135M: full copies (weights + AdamW state each) vs LoRA adapters on one shared base.

Each arm runs in its own subprocess (peak memory is per process): the ``ccpo_voting`` workflow with 3 trainable
voters, a few RL steps, then peak resident memory (``ru_maxrss``; on CUDA also ``max_memory_allocated``) and the
median step time. Arms alternate, ``--repeats`` times each.

    .venv/bin/python benchmarks/lora_agents.py --steps 4 --repeats 2 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS = {"full": ["model.lora.r=0"], "lora": ["model.lora.r=16", "model.lora.target_modules=[all-linear]"]}


def run_arm(arm: str, steps: int, threads: int, device: str) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from credo.config import load_config
    from credo.train.multi import build_trainer

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config("src/credo/recipes/ccpo_voting.yaml", ARMS[arm] + [
            "model.path=smollm2", f"train.device={device}", f"train.threads={threads}", f"train.steps={steps}",
            "train.prompts_per_step=4", "sampling.n=2", "sampling.max_new_tokens=16", "sft.steps=0",
            "task.size=64", "task.eval_size=8", "eval.every=0", "log.tensorboard=false", "log.progress=false",
            "log.report=false", "train.lr=1e-5", "reward.noise_p=0.5", f"log.output_dir={out}",
            "multi.agents=[{name: voter1}, {name: voter2}, {name: voter3}]"])
        trainer = build_trainer(cfg)
        params = {id(p) for pol in trainer.policies.values() for p in pol.model.parameters()}
        trainable = sum(p.numel() for pol in trainer.policies.values() for g in pol.learner.opt.param_groups
                        for p in g["params"])
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            trainer.train_step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        out = {"arm": arm, "steps": steps, "s_per_step_median": statistics.median(times[1:] or times),
               "s_per_step_min": min(times), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "parameter_tensors": len(params), "trainable_parameters": trainable,
               "distinct_models": len({id(p.model) for p in trainer.policies.values()})}
        if device.startswith("cuda"):
            out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--arm", choices=sorted(ARMS), help=argparse.SUPPRESS)  # child process
    ap.add_argument("--json", default="benchmarks/out/lora_agents.json")
    args = ap.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.steps, args.threads, args.device)))
        return
    results = []
    for _ in range(args.repeats):
        for arm in ARMS:
            cmd = [sys.executable, __file__, "--arm", arm, "--steps", str(args.steps), "--threads",
                   str(args.threads), "--device", args.device]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    for arm in ARMS:
        rs = [r for r in results if r["arm"] == arm]
        print(f"{arm}: peak RSS {statistics.median(r['peak_rss_mb'] for r in rs):.0f} MB, "
              f"step {statistics.median(r['s_per_step_median'] for r in rs):.2f} s (median of {len(rs)} runs), "
              f"trainable parameters {rs[0]['trainable_parameters']:,}, models in memory {rs[0]['distinct_models']}")


if __name__ == "__main__":
    main()
