"""Step time of one GRPO recipe under each backend on this machine (CPU): single process, 2 data-parallel gloo
ranks (torchrun; ``ddp2`` replicated weights, ``fsdp2`` sharded weights), and the Ray backend on a local cluster.
Writes benchmarks/out/scale_out.json and prints one line per run (repeats are interleaved: other load on the machine
drifts).

    .venv/bin/python benchmarks/scale_out.py [--steps 6] [--threads 1] [--backends single,ddp2,fsdp2,ray]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def overrides(run: str, steps: int, threads: int) -> list[str]:
    return [f"train.steps={steps}", "train.prompts_per_step=8", "sampling.n=8", "sampling.max_new_tokens=16",
            "sft.steps=0", "eval.every=0", "eval.size=8", "task.eval_size=8", "eval.pass_k=0", "log.progress=false",
            "log.tensorboard=false", "log.report=false", f"train.threads={threads}", "train.device=cpu",
            f"log.output_dir={OUT / run}"]


def step_times(run: str) -> list[float]:
    rows = [json.loads(x) for x in (OUT / run / "metrics.jsonl").read_text().splitlines()]
    return [r["timing/step"] for r in rows if "timing/step" in r]


def launch(backend: str, args: argparse.Namespace) -> float:
    """Run the recipe under ``backend``; -> wall seconds of the whole command (start-up included)."""
    run, kind = f"scale-{backend}", backend.rstrip("0123456789")  # ddp2 / fsdp2: the backend on 2 ranks
    cmd = [sys.executable, "-m", "credo.cli", "train", "grpo", *overrides(run, args.steps, args.threads),
           f"train.backend={kind}", "--overwrite"]
    if kind in ("ddp", "fsdp"):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", backend[len(kind):], *cmd[1:]]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backends", default="single,ddp2,ray,ray,ddp2,single",
                    help="comma-separated, repeats allowed (the machine's load drifts: interleave)")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    results = {}
    for backend in args.backends.split(","):
        wall = launch(backend, args)
        times = step_times(f"scale-{backend}")[1:]  # the first step includes warm-up
        r = {"wall_s": wall, "step_s": sum(times) / len(times), "steps": len(times)}
        results.setdefault(backend, []).append(r)
        print(f"{backend:8s} mean step {r['step_s']:.3f} s over {len(times)} steps; whole run {wall:.1f} s "
              "(start-up included)", flush=True)
    (OUT / "scale_out.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
