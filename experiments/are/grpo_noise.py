"""GRPO on contaminated rewards: plain-mean group baseline vs ARE (and the median), same warm start per seed.

Per seed: the embedded model is SFT-warmed once on reasoning-gym chain_sum (1-digit, 2 terms; the demo's setting),
then each arm runs 60 GRPO steps from that same checkpoint with reward contamination p in {0, 0.2} (additive
Student-t(1) x 5, the B.6 protocol). Reported per run: the clean verifier score on the rollouts (mean of the last
10 steps), held-out greedy accuracy after RL, gradient-norm spikes (steps whose pre-clip norm exceeds 5x the run's
median) and divergence (non-finite loss, or last-10 clean score below half the first-10).

Setting `a_task` (`--setting a_task`): no SFT; the random embedded model learns a binary task from scratch (score 1
when the answer contains an 'a', `a_task.py`), 30 GRPO steps at lr 1e-3, where GRPO's progress is large and fast.

Usage: python experiments/are/grpo_noise.py [--seeds 0 1 2] [--setting chain_sum|a_task]
       -> grpo_noise[_a_task].json, grpo_noise[_a_task].png
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from credo.config import load_config
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer

OUT = Path(__file__).parent
RECIPE = Path(__file__).parents[2] / "src/credo/recipes/demo.yaml"
QUIET = ["log.tensorboard=false", "log.progress=false", "log.report=false", "train.threads=1", "eval.pass_k=0",
         "eval.every=0"]
ARMS = ("mean", "are", "median")
A_TASK = ["task.kind=callable", "task.name=a_task:rows", "task.size=64", "task.eval_size=16", "eval.size=16",
          "sampling.stop=[]", "sampling.max_new_tokens=8", "train.steps=30", "train.lr=1e-3", "sft.steps=0"]
sys.path.insert(0, str(OUT))
NOISE = (0.0, 0.2)


def warm_start(seed: int, root: Path) -> Path:
    cfg = load_config(RECIPE, QUIET + [f"train.seed={seed}", "train.steps=0", f"log.output_dir={root / 'sft'}"])
    tr = RLTrainer(cfg, overwrite=True)
    return tr.export()


def arm(seed: int, policy: Path | None, baseline: str, p: float, root: Path, n: int = 8) -> dict:
    run = root / f"{baseline}_{p}"
    start = [f"model.path={policy}", "sft.steps=0"] if policy else A_TASK
    cfg = load_config(RECIPE, QUIET + [f"train.seed={seed}", f"sampling.n={n}", *start,
                                       f"algo.baseline={baseline}", f"reward.noise_p={p}", "reward.noise_df=1.0",
                                       "reward.noise_scale=5.0", f"reward.noise_seed={seed}",
                                       f"log.output_dir={run}"])
    RLTrainer(cfg, overwrite=True).run()
    rows = read_metrics(run / "metrics.jsonl")
    steps = [r for r in rows if "reward/score_mean" in r]
    evals = [r for r in rows if "eval/accuracy" in r]
    score = [r["reward/score_mean"] for r in steps]
    grad = [r["actor/grad_norm"] for r in steps]
    med = statistics.median(grad)
    diverged = any(not torch.isfinite(torch.tensor(r["actor/loss"])) for r in steps) or \
        sum(score[-10:]) / 10 < 0.5 * sum(score[:10]) / 10
    return {"seed": seed, "baseline": baseline, "noise_p": p, "score_first10": sum(score[:10]) / 10,
            "score_last10": sum(score[-10:]) / 10, "eval_before": evals[0]["eval/accuracy"],
            "eval_after": evals[-1]["eval/accuracy"], "grad_spikes": sum(g > 5 * med for g in grad),
            "grad_max": max(grad), "diverged": diverged, "score_curve": score}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--setting", default="chain_sum", choices=["chain_sum", "a_task"])
    ap.add_argument("--n", type=int, default=8, help="samples per prompt (the group size)")
    args = ap.parse_args()
    suffix = ("" if args.setting == "chain_sum" else "_a_task") + ("" if args.n == 8 else f"_n{args.n}")
    results = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as d:
            policy = warm_start(seed, Path(d)) if args.setting == "chain_sum" else None
            for p in NOISE:
                for b in ARMS:
                    results.append(arm(seed, policy, b, p, Path(d), args.n))
                    r = results[-1]
                    print(seed, p, b, round(r["score_first10"], 3), round(r["score_last10"], 3), r["eval_after"],
                          r["grad_spikes"], flush=True)
        (OUT / f"grpo_noise{suffix}.json").write_text(json.dumps(results, indent=1))
    plot(results, suffix)


def plot(results, suffix=""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(NOISE), figsize=(11, 3.8), squeeze=False)
    for ax, p in zip(axes[0], NOISE):
        for b in ARMS:
            curves = [r["score_curve"] for r in results if r["baseline"] == b and r["noise_p"] == p]
            mean = [sum(c[i] for c in curves) / len(curves) for i in range(min(map(len, curves)))]
            smooth = [sum(mean[max(0, i - 4):i + 1]) / len(mean[max(0, i - 4):i + 1]) for i in range(len(mean))]
            ax.plot(range(1, len(smooth) + 1), smooth, label=b)
        ax.set_title(f"contamination p={p}: clean rollout score (5-step mean over seeds)")
        ax.set_xlabel("GRPO step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / f"grpo_noise{suffix}.png", dpi=110)


if __name__ == "__main__":
    main()
