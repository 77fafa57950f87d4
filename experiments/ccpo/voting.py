"""CCPO voting: three voters of different width on the carry task (no hints); shared team reward vs each voter's
counterfactual credit c_k = R(maj) - R(maj without k) (tanh of its EMA z-score), with independent training
(`individual`: each voter paid its own score) as a reference.

Per seed the three voters (hidden 32 / 64 / 96, 2 layers) are SFT-warmed once; every arm trains from those weights
with the same prompts, samples and steps. Measured (greedy, 150 held-out questions): team (majority) accuracy and
each voter's accuracy; from training: each voter's pivotal rate (share of rounds with c_k != 0).

Usage: python experiments/ccpo/voting.py [--seeds 0 1 2] [--steps 60]   -> voting.json, voting.png
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from credo.config import load_config
from credo.train.metrics import read_metrics
from credo.train.multi import MultiAgentTrainer

OUT = Path(__file__).parent
sys.path.insert(0, str(OUT))
WIDTHS = {"v32": 32, "v64": 64, "v96": 96}
BASE = ["model.num_layers=2", "model.num_heads=4", "task.kind=callable", "task.name=carry_task:rows",
        "task.size=750", "task.eval_size=150", "sampling.n=4", "sampling.max_new_tokens=5",
        "train.prompts_per_step=8", "train.threads=1", "train.lr=2e-4", "algo.policy_loss=gspo",
        "algo.eps_low=0.2", "algo.eps_high=0.2", "algo.dual_clip=3.0", "algo.log_ratio_clamp=3.0",
        "algo.loss_agg=seq_mean_token_mean", "multi.workflow=voting", "multi.tie_rule=random",
        "multi.schedule=simultaneous", "eval.size=150", "eval.every=0", "log.tensorboard=false",
        "log.progress=false", "log.report=false", "sft.steps=600", "sft.batch_size=32"]


def agents(warm: Path | None) -> str:
    items = []
    for i, (name, h) in enumerate(WIDTHS.items()):
        path = f", path: {warm / name}" if warm else ""
        sft = "" if warm else ", sft_prompt: '{question} Answer:'"
        items.append(f"{{name: {name}, model: {{init_seed: {i + 1}, hidden_size: {h}, "
                     f"intermediate_size: {3 * h}{path}}}{sft}}}")
    return "multi.agents=[" + ", ".join(items) + "]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--arms", nargs="+", default=["shared", "counterfactual", "individual"])
    ap.add_argument("--sft-steps", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = OUT / "voting.json"
    results = json.loads(out.read_text()) if out.exists() else []
    done = {(r["seed"], r["credit"]) for r in results}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            seeds = [f"train.seed={seed}", f"task.seed={seed}", f"sft.steps={args.sft_steps}"]
            warm = MultiAgentTrainer(load_config(None, BASE + seeds + [f"log.output_dir={root / 'sft'}",
                                                                       agents(None)]), overwrite=True).export()
            for credit in args.arms:
                if (seed, credit) in done:
                    continue
                cfg = load_config(None, BASE + seeds + [f"train.steps={args.steps}", "sft.steps=0",
                                                        f"multi.credit={credit}", f"log.output_dir={root / credit}",
                                                        agents(warm)])
                tr = MultiAgentTrainer(cfg, overwrite=True)
                before = tr.evaluate()
                tr.run()
                after = tr.evaluate()
                steps = [r for r in read_metrics(root / credit / "metrics.jsonl") if "vote/team_accuracy" in r]
                pivotal = {n: sum(r[f"vote/{n}/pivotal_rate"] for r in steps) / len(steps) for n in WIDTHS}
                results.append({"seed": seed, "credit": credit, "before": before, "after": after,
                                "pivotal_rate": pivotal,
                                "train_team_accuracy": [r["vote/team_accuracy"] for r in steps]})
                print(seed, credit, {k: round(v, 3) for k, v in after.items()}, pivotal, flush=True)
                out.write_text(json.dumps(results, indent=1))
    plot(results)


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in ("shared", "counterfactual", "individual") if any(r["credit"] == a for r in results)]
    keys = ["eval/team_accuracy"] + [f"eval/{n}/accuracy" for n in WIDTHS]
    fig, axes = plt.subplots(1, len(keys), figsize=(15, 3.5))
    for ax, k in zip(axes, keys):
        for i, a in enumerate(arms):
            rs = [r for r in results if r["credit"] == a]
            ax.scatter([i] * len(rs), [r["after"][k] for r in rs], alpha=0.7)
            ax.scatter([i], [sum(r["after"][k] for r in rs) / len(rs)], marker="_", s=400, color="black")
        ax.axhline(sum(r["before"][k] for r in results) / len(results), ls=":", color="grey")
        ax.set_xticks(range(len(arms)), arms)
        ax.set_title(k.replace("eval/", ""))
    fig.tight_layout()
    fig.savefig(OUT / "voting.png", dpi=110)


if __name__ == "__main__":
    main()
