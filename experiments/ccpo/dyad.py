"""CCPO vs shared reward on the Think→Reason dyad, with a task where a one-character hint (the carry) helps.

Per seed: a Thinker and a Solver (separate embedded models, hidden 64, 2 layers) are SFT-warmed once (Thinker on
noisy carries, Solver on answers with the true carry in half the prompts and no plan in the rest), then every credit
arm trains from those same weights: `shared` (both agents get R_joint), `v1` (counterfactual Δ + EMA history, tanh,
gate), `v2` (R_joint + λ·event bonus). Equal budgets: the same prompts per step, samples per prompt and steps; all arms
sample the counterfactual Solver-alone rollouts (only v1/v2 use them). Alternating updates, period 10 (the paper's).

Measured on 150 held-out questions (greedy): team accuracy, Solver-alone accuracy, lazy-agent accuracy (the Solver
with the Thinker removed), the Thinker's hint accuracy (plan == true carry), help rate (team right, Solver alone
wrong). From training: the Thinker's help rate and the variance of its reward and advantage per step.

Usage: python experiments/ccpo/dyad.py [--seeds 0 1 2] [--steps 80] [--tag T --set key=value ...]
       -> dyad[_T].json, dyad[_T].png  (--set overrides apply to the SFT warm start and to every arm)
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
from credo.workflows import clean

OUT = Path(__file__).parent
sys.path.insert(0, str(OUT))
SIZE = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=4", "model.intermediate_size=128"]
BASE = SIZE + ["task.kind=callable", "task.name=carry_task:rows", "task.size=750", "task.eval_size=150",
               "sampling.n=4", "sampling.max_new_tokens=5", "train.prompts_per_step=8", "train.threads=1",
               "train.lr=2e-4", "algo.policy_loss=gspo", "algo.eps_low=0.2", "algo.eps_high=0.2",
               "algo.dual_clip=3.0", "algo.log_ratio_clamp=3.0", "algo.loss_agg=seq_mean_token_mean",
               "multi.workflow=think_reason", "multi.schedule=alternating", "multi.period=10",
               "multi.answer_penalty=0.5", "eval.size=150", "eval.every=0", "log.tensorboard=false",
               "log.progress=false", "log.report=false", "sft.steps=400", "sft.batch_size=32"]
SOLVE = "{question} Plan: {plan} Answer:"


def agents(thinker: str, solver: str, sft: bool) -> str:
    t = f"{{name: thinker, model: {{init_seed: 1, path: {thinker}}}" + \
        (", sft_prompt: '{question} Plan:', sft_target: ' {noisy_hint}'" if sft else "") + "}"
    s = f"{{name: solver, model: {{init_seed: 2, path: {solver}}}, prompts: {{solve: '{SOLVE}', " \
        f"solo: '{{question}} Plan:  Answer:'}}" + \
        (", sft_prompt: '{question} Plan: {sft_plan} Answer:'" if sft else "") + "}"
    return f"multi.agents=[{t}, {s}]"


def hint_accuracy(tr: MultiAgentTrainer) -> float:
    rows = tr.eval_rows
    plans = tr.workflow._plans(rows, 1, 0, greedy=True, batch_size=64)
    return sum(clean(p.response_text) == r["hint"] for p, r in zip(plans, rows)) / len(rows)


def run_arm(seed: int, warm: Path, credit: str, steps: int, root: Path, extra: list[str]) -> dict:
    run = root / credit
    cfg = load_config(None, BASE + extra + [f"train.seed={seed}", f"task.seed={seed}", f"train.steps={steps}",
                                    "sft.steps=0", f"multi.credit={credit}", f"log.output_dir={run}",
                                    agents(str(warm / "thinker"), str(warm / "solver"), sft=False)])
    tr = MultiAgentTrainer(cfg, overwrite=True)
    before = tr.evaluate() | {"hint_accuracy": hint_accuracy(tr)}
    tr.run()
    after = tr.evaluate() | {"hint_accuracy": hint_accuracy(tr)}
    steps_m = [r for r in read_metrics(run / "metrics.jsonl") if "ccpo/help_rate" in r]
    think = [r for r in steps_m if r.get("schedule/thinker") == 1.0]
    return {"seed": seed, "credit": credit, "before": before, "after": after,
            "train_help_rate": [r["ccpo/help_rate"] for r in steps_m],
            "train_joint_accuracy": [r["ccpo/joint_accuracy"] for r in steps_m],
            "train_solo_accuracy": [r["ccpo/solo_accuracy"] for r in steps_m],
            "thinker_reward_var": sum(r["thinker/think/reward_var"] for r in think) / max(len(think), 1),
            "thinker_adv_var": sum(r.get("thinker/think/adv_var", 0.0) for r in think) / max(len(think), 1),
            "thinker_zero_adv_frac": sum(r.get("thinker/think/zero_adv_frac", 0.0) for r in think)
            / max(len(think), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--arms", nargs="+", default=["shared", "v1", "v2"])
    ap.add_argument("--tag", default="")
    ap.add_argument("--set", nargs="*", default=[])
    args = ap.parse_args()
    torch.set_num_threads(1)
    suffix = f"_{args.tag}" if args.tag else ""
    out = OUT / f"dyad{suffix}.json"
    results = json.loads(out.read_text()) if out.exists() else []
    done = {(r["seed"], r["credit"]) for r in results}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            warm = MultiAgentTrainer(load_config(None, BASE + args.set + [f"train.seed={seed}", f"task.seed={seed}",
                                                               f"log.output_dir={root / 'sft'}",
                                                               agents("embedded", "embedded", sft=True)]),
                                     overwrite=True)
            warm_dir = warm.export()
            for credit in args.arms:
                if (seed, credit) in done:
                    continue
                results.append(run_arm(seed, warm_dir, credit, args.steps, root, args.set))
                r = results[-1]
                print(seed, credit, {k: round(v, 3) for k, v in r["after"].items()},
                      round(r["thinker_reward_var"], 4), flush=True)
                out.write_text(json.dumps(results, indent=1))
    plot(results, suffix)


def plot(results, suffix=""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = sorted({r["credit"] for r in results}, key=["shared", "v1", "v2", "shapley_half"].index)
    keys = ["eval/team_accuracy", "eval/lazy_gap", "hint_accuracy", "eval/help_rate"]
    fig, axes = plt.subplots(1, len(keys) + 1, figsize=(17, 3.6))
    for ax, k in zip(axes, keys):
        for i, a in enumerate(arms):
            rs = [r for r in results if r["credit"] == a]
            ax.scatter([i] * len(rs), [r["after"][k] for r in rs], alpha=0.7)
            ax.scatter([i], [sum(r["after"][k] for r in rs) / len(rs)], marker="_", s=400, color="black")
        ax.axhline(sum(r["before"][k] for r in results) / len(results), ls=":", color="grey", label="warm start")
        ax.set_xticks(range(len(arms)), arms)
        ax.set_title(k.replace("eval/", ""))
    axes[0].legend(fontsize=8)
    ax = axes[-1]
    for a in arms:
        curves = [r["train_help_rate"] for r in results if r["credit"] == a]
        mean = [sum(c[i] for c in curves) / len(curves) for i in range(min(map(len, curves)))]
        smooth = [sum(mean[max(0, i - 9):i + 1]) / len(mean[max(0, i - 9):i + 1]) for i in range(len(mean))]
        ax.plot(smooth, label=a)
    ax.set_title("training help rate (10-step mean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / f"dyad{suffix}.png", dpi=110)


if __name__ == "__main__":
    main()
