"""DACR toy: does paying the critic its cross-improvement R(y') - R(y) train a more useful critic than paying it the
shared final reward R(y')? Optionally under heavy-tailed reward contamination with a plain-mean vs ARE baseline.

Task: the carry task of experiments/ccpo ("a+b", two-digit a, one-digit b). A useful critique is the carry digit of
the units column: the rewrite turn was warmed to use it. Per seed, agents P and Q (separate embedded models, hidden
64, 2 layers) are SFT-warmed once on a mixture of the three turn formats:
  answer   "{a}+{b} Answer:"                                    -> " {sum}"
  critique "{a}+{b} Answer: {draft} Critique:"                  -> " {carry}" (flipped with probability 0.3)
  rewrite  "{a}+{b} Answer: {draft} Critique: {c} Revised:"     -> " {sum}" (c = the carry in half the rows, else "")
where drafts are the right sum or a sum off by ±10 / ±1. Arms then train from the same weights with equal budgets.

Measured (greedy, 150 held-out questions, both directions): answer and rewrite accuracy per agent, the critic's
carry accuracy (critique == true carry) and the share of rewrites that improved on the draft.

Usage: python experiments/dacr/run.py [--seeds 0 1 2] [--steps 60]   -> results.json, dacr.png
"""

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import torch

from credo.config import ModelConfig, SFTConfig, load_config
from credo.models import load_policy
from credo.sft.trainer import sft_train
from credo.train.multi import MultiAgentTrainer
from credo.workflows import clean

OUT = Path(__file__).parent
sys.path.insert(0, str(OUT.parent / "ccpo"))
import carry_task  # noqa: E402

SIZE = dict(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128)
# The noisy arms sample 8 per prompt: with groups of 4, ARE's two blocks of 2 make it equal to the mean.
NOISY = ["reward.noise_p=0.2", "reward.noise_df=1.0", "reward.noise_scale=5.0", "sampling.n=8"]
ARMS = {"cross_improvement": [], "shared": ["multi.credit=shared"],
        "noisy_mean": NOISY, "noisy_are": NOISY + ["algo.baseline=are"]}
BASE = ["task.kind=callable", "task.name=carry_task:rows", "task.size=750", "task.eval_size=150", "sampling.n=4",
        "sampling.max_new_tokens=5", "train.prompts_per_step=8", "train.threads=1", "train.lr=2e-4",
        "algo.policy_loss=gspo", "algo.eps_low=0.2", "algo.eps_high=0.2", "algo.dual_clip=3.0",
        "algo.log_ratio_clamp=3.0", "algo.loss_agg=seq_mean_token_mean", "multi.workflow=answer_critique_rewrite",
        "multi.schedule=simultaneous", "multi.answer_penalty=0.5", "eval.size=150", "eval.every=0",
        "log.tensorboard=false", "log.progress=false", "log.report=false", "sft.steps=0"]


def sft_examples(tok, rows, rng):
    def ex(prompt, target):
        return tok(prompt)["input_ids"], tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]

    out = []
    for r in rows:
        s = int(r["answer"])
        draft = str(rng.choice([s, s, s + 10, s - 10, s + 1, s - 1]))
        note = r["noisy_hint"]
        c = r["hint"] if rng.random() < 0.5 else ""
        out += [ex(f"{r['question']} Answer:", f" {s}"),
                ex(f"{r['question']} Answer: {draft} Critique:", f" {note}"),
                ex(f"{r['question']} Answer: {draft} Critique: {c} Revised:", f" {s}")]
    return out


def warm_start(seed: int, root: Path, steps: int) -> Path:
    rows = carry_task.rows("train", 750, seed)
    held = {r["question"] for r in carry_task.rows("eval", 150, seed)}
    rows = [r for r in rows if r["question"] not in held]
    for i, name in enumerate(("p", "q")):
        model, tok, _ = load_policy(ModelConfig(init_seed=10 * seed + i + 1, **SIZE))
        sft_train(model, tok.pad_token_id, sft_examples(tok, rows, random.Random(seed * 7 + i)),
                  SFTConfig(steps=steps, batch_size=48, lr=3e-3), seed=seed)
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return root


def critic_accuracy(tr, rows):
    """Share of greedy critiques (either direction, on the partner's greedy draft) equal to the true carry."""
    wf, hits = tr.workflow, 0
    for solver, critic in ((wf.agents[0], wf.agents[1]), (wf.agents[1], wf.agents[0])):
        _, crits, _, _ = wf._direction(solver, critic, rows, 1, 0, True, 64)
        hits += sum(clean(c.response_text) == r["hint"] for c, r in zip(crits, rows))
    return hits / (2 * len(rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--arms", nargs="+", default=list(ARMS))
    ap.add_argument("--sft-steps", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = OUT / "results.json"
    results = json.loads(out.read_text()) if out.exists() else []
    done = {(r["seed"], r["arm"]) for r in results}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as d:
            warm = warm_start(seed, Path(d) / "warm", args.sft_steps)
            agents = (f"multi.agents=[{{name: p, model: {{path: {warm / 'p'}}}}}, "
                      f"{{name: q, model: {{path: {warm / 'q'}}}}}]")
            for arm in args.arms:
                if (seed, arm) in done:
                    continue
                cfg = load_config(None, BASE + ARMS[arm] + [f"train.seed={seed}", f"task.seed={seed}",
                                                            f"reward.noise_seed={seed}", f"train.steps={args.steps}",
                                                            f"log.output_dir={Path(d) / arm}", agents])
                tr = MultiAgentTrainer(cfg, overwrite=True)
                rows = tr.eval_rows[: cfg.eval.size]
                before = tr.evaluate() | {"critic_accuracy": critic_accuracy(tr, rows)}
                tr.run()
                after = tr.evaluate() | {"critic_accuracy": critic_accuracy(tr, rows)}
                results.append({"seed": seed, "arm": arm, "before": before, "after": after})
                print(seed, arm, {k: round(v, 3) for k, v in after.items()}, flush=True)
                out.write_text(json.dumps(results, indent=1))
    plot(results)


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in ARMS if any(r["arm"] == a for r in results)]
    keys = ["eval/accuracy", "critic_accuracy", "eval/p/answer_accuracy", "eval/q/answer_accuracy"]
    fig, axes = plt.subplots(1, len(keys), figsize=(16, 3.6))
    for ax, k in zip(axes, keys):
        for i, a in enumerate(arms):
            rs = [r for r in results if r["arm"] == a]
            ax.scatter([i] * len(rs), [r["after"][k] for r in rs], alpha=0.7)
            ax.scatter([i], [sum(r["after"][k] for r in rs) / len(rs)], marker="_", s=400, color="black")
        ax.axhline(sum(r["before"][k] for r in results) / len(results), ls=":", color="grey")
        ax.set_xticks(range(len(arms)), arms, rotation=15)
        ax.set_title(k.replace("eval/", "") + (" (mean rewrite)" if k == "eval/accuracy" else ""))
    fig.tight_layout()
    fig.savefig(OUT / "dacr.png", dpi=110)


if __name__ == "__main__":
    main()
