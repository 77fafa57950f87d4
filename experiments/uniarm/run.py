"""UniARM decisive miniature (methods spec B.7): GenARM vs PBLoRA vs MoSLoRA (and MoSLoRA with one-hot λ) at about
equal trainable parameters, guiding a topic-aware 0.87M base, measured against exact-reward oracle guidance.

Stages (each writes JSON under experiments/uniarm/, models under runs/uniarm_exp/):
  base   pretrain the embedded 0.87M model from scratch on topic-dependent responses
  gate   calibration gate: oracle range per objective vs its SE over the λ grid; a single-objective ARM's held-out
         pairwise accuracy at --size pairs
  arms   train the five ARMs of each seed on --size base-sampled pairs and evaluate the λ grid

Run niced on one thread:  nice -n 10 python experiments/uniarm/run.py base|gate|arms [--size 2000] [--seeds 0 1 ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from credo.arm.config import ArmConfig
from credo.arm.evaluate import REFERENCE, evaluate_grid, matched_oracle_beta, summarise
from credo.arm.guide import GuidedLogits, GuideTerm
from credo.arm.metrics import lambda_grid
from credo.arm.synthetic import TOPICS, OracleGuide, TopicTask
from credo.arm.train import train_arm
from credo.config import ModelConfig, SFTConfig
from credo.models import encode_prompt, load_causal_lm, load_tokenizer, resolve_model_dir

HERE = Path(__file__).parent
RUNS = Path("runs/uniarm_exp")
BASE_DIR = RUNS / "base"
LENGTH = 12  # response tokens
TAU = 0.05  # label temperature
BETA_R = 1.0  # β_r of the ARM loss
ALPHA = 1.0  # guidance strength
TARGETS = ["q_proj", "k_proj", "v_proj"]
ARMS = {  # name → adapter overrides (about equal trainable parameters on the 4-layer hidden-128 base)
    "genarm": {"kind": "lora", "r": 4},
    "pblora": {"kind": "pblora", "r1": 4, "r2": 4},
    "moslora": {"kind": "moslora", "r": 8, "modulation": "shared", "conditioning": "embedding"},
    "moslora_onehot": {"kind": "moslora", "r": 8, "modulation": "shared", "conditioning": "onehot"},
}


def base_model_config() -> ModelConfig:
    return ModelConfig(path=str(BASE_DIR), chat_template=False)


def stage_base(args) -> None:
    from credo.models import load_policy
    from credo.sft.trainer import sft_train
    from credo.train.checkpoint import save_hf_dir, seed_everything

    seed_everything(0)
    model, tok, _ = load_policy(ModelConfig(path="embedded", chat_template=False), "cpu")
    n = sum(p.numel() for p in model.parameters())
    task = TopicTask(0)
    texts = task.base_texts(args.base_steps * 64, seed=0, length=LENGTH, p_topic=0.5)
    examples = [(encode_prompt(tok, p, False), tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
                for p, r in texts]
    tic = time.time()
    out = sft_train(model, tok.pad_token_id, examples, SFTConfig(steps=args.base_steps, batch_size=64, lr=3e-3))
    save_hf_dir(BASE_DIR, model, tok)
    rec = {"parameters": n, "steps": args.base_steps, "seconds": time.time() - tic, **out}
    (HERE / "base.json").write_text(json.dumps(rec, indent=1))
    print(rec)


def load_base():
    cfg = base_model_config()
    path = resolve_model_dir(cfg)
    return load_causal_lm(path, cfg, "cpu").eval(), load_tokenizer(path, cfg)


def sample_pairs(model, tok, task: TopicTask, n: int, seed: int) -> list[dict]:
    """``n`` pairs of base samples for random topics, with logistic per-objective labels."""
    from credo.arm.generate import guided_generate

    rng = np.random.default_rng([seed, 7])
    topics = rng.integers(len(TOPICS), size=n).tolist()
    out = []
    for s in range(0, n, 256):
        part = topics[s: s + 256]
        ids = [encode_prompt(tok, task.prompt(t), False) for t in part]
        trajs, _ = guided_generate(model, tok, ids, 2, LENGTH, 1.0, None, seed=seed * 100_000 + s)
        resp = [(t, trajs[2 * i].response_text, trajs[2 * i + 1].response_text) for i, t in enumerate(part)]
        resp = [(t, a or " ", b or " ") for t, a, b in resp]
        out += task.pairs(len(part), seed * 100_000 + s, temperature=TAU, responses=resp)
    return out


def label_ceiling(task: TopicTask, rows: list[dict]) -> dict[str, float]:
    """Best achievable expected pairwise accuracy on ``rows`` under the label model: mean of max(p, 1 − p) with
    p = σ(Δf_i / τ) from the exact objectives (0.5 for pairs the objective cannot tell apart)."""
    out = {}
    for i, name in enumerate(("help", "harmless")):
        acc = []
        for r in rows:
            t = task.topic_of(r["prompt"])
            d = task.objectives(t, r["responses"][0])[i] - task.objectives(t, r["responses"][1])[i]
            p = 1.0 / (1.0 + np.exp(-d / TAU))
            acc.append(max(p, 1.0 - p))
        out[name] = float(np.mean(acc))
    return out


def arm_config(name: str, objective: str, seed: int, steps: int, out: Path, lam_reg: float = 1.0) -> ArmConfig:
    cfg = ArmConfig()
    cfg.model = base_model_config()
    for k, v in ARMS[name].items():
        setattr(cfg.adapter, k, v)
    cfg.adapter.target_modules = list(TARGETS)
    cfg.adapter.alpha = 8.0
    cfg.data.source, cfg.data.objective = "pairs", objective if name == "genarm" else ""
    cfg.data.label_temperature = TAU
    cfg.train.steps, cfg.train.batch_size, cfg.train.lr, cfg.train.warmup = steps, 32, 2e-3, 10
    cfg.train.beta, cfg.train.seed, cfg.train.device, cfg.train.threads = BETA_R, seed, "cpu", 1
    cfg.train.lam_reg = 0.0 if name == "genarm" else lam_reg  # one objective: L_glob would repeat L_dim
    cfg.eval.grid = 0
    cfg.log.output_dir = str(out)
    return cfg


def grid_run(model, tok, task, lams, make, args, seed):
    return evaluate_grid(model, tok, task, make, lams, args.prompts, args.samples, LENGTH, 1.0, seed=seed * 1000)


def stage_gate(args) -> None:
    model, tok = load_base()
    task = TopicTask(0)
    lams = lambda_grid(2, 11)
    beta_o = matched_oracle_beta(ALPHA, True, TAU, BETA_R)
    oracle = grid_run(model, tok, task, lams, lambda lam: [OracleGuide(task, tok, lam, beta_o, LENGTH)], args, 0)
    means, se = np.array(oracle["means"]), np.array(oracle["se"])
    rng_ = means.max(0) - means.min(0)
    rec = {"oracle_beta": beta_o, "oracle_means": oracle["means"], "oracle_se": oracle["se"],
           "range": rng_.tolist(), "max_se": se.max(0).tolist(), "range_over_se": (rng_ / se.max(0)).tolist()}
    pairs = sample_pairs(model, tok, task, args.size + 500, seed=0)
    tic = time.time()
    out = RUNS / f"gate_{args.size}"
    shutil.rmtree(out, ignore_errors=True)
    _, _, res = train_arm(arm_config("genarm", "help", 0, args.steps, out), rows=(pairs[:args.size], pairs[args.size:]))
    rec |= {"size": args.size, "steps": args.steps, "genarm_help": res, "train_seconds": time.time() - tic}
    rec["pass_range"] = bool((rng_ >= 3 * se.max(0)).all())
    rec["pass_accuracy"] = res["eval/accuracy_help"] >= 0.8
    (HERE / f"gate_{args.size}.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps({k: v for k, v in rec.items() if "means" not in k and "_se" not in k}, indent=1))


def stage_arms(args) -> None:
    model, tok = load_base()
    task = TopicTask(0)
    lams = lambda_grid(2, 11)
    beta_o = matched_oracle_beta(ALPHA, True, TAU, BETA_R)
    for seed in args.seeds:
        tag = "" if args.lam_reg == 1.0 else f"_lamreg{args.lam_reg:g}"
        path = HERE / f"arms_{args.size}{tag}_seed{seed}.json"
        tic = time.time()
        pairs = sample_pairs(model, tok, task, args.size + 500, seed=seed + 1)
        rows = (pairs[:args.size], pairs[args.size:])
        rec = {"size": args.size, "seed": seed, "steps": args.steps, "prompts": args.prompts, "samples": args.samples,
               "pairs_seconds": time.time() - tic, "label_ceiling": label_ceiling(task, rows[1])}
        print(seed, "pairs", rec["pairs_seconds"], "held-out label ceiling", rec["label_ceiling"], flush=True)
        rec["base"] = grid_run(model, tok, task, lams[:1], lambda lam: [], args, seed)["means"][0]
        oracle = grid_run(model, tok, task, lams, lambda lam: [OracleGuide(task, tok, lam, beta_o, LENGTH)], args,
                          seed)
        low, high = np.min(oracle["means"], 0), np.max(oracle["means"], 0)
        rec["oracle"] = oracle | summarise(oracle, low, high)
        for name in args.arms or ARMS:
            tic = time.time()
            arms, params, acc = [], 0, {}
            for obj in (["help", "harmless"] if name == "genarm" else [""]):
                out = RUNS / f"{name}{('_' + obj) if obj else ''}_{args.size}_s{seed}"
                shutil.rmtree(out, ignore_errors=True)
                arm, _, res = train_arm(arm_config(name, obj or "help", seed, args.steps, out, args.lam_reg), rows=rows)
                arm.eval()
                arms.append(arm)
                params += res["trainable_parameters"]
                acc |= {k: v for k, v in res.items() if k.startswith("eval/")}
            if name == "genarm":
                def make(lam, arms=arms):
                    return [GuidedLogits([GuideTerm(a, None, ALPHA * w) for a, w in zip(arms, lam)], tok.pad_token_id)]
            else:
                def make(lam, arm=arms[0]):
                    return [GuidedLogits([GuideTerm(arm, lam, ALPHA)], tok.pad_token_id)]
            res = grid_run(model, tok, task, lams, make, args, seed)
            summ = summarise(res, low, high)
            dist = np.linalg.norm(np.array(res["means"]) - np.array(oracle["means"]), axis=1)
            rec[name] = res | summ | {"trainable_parameters": params, **acc, "oracle_distance": float(dist.mean()),
                                      "hv_ratio": summ["hv"] / rec["oracle"]["hv"], "seconds": time.time() - tic}
            print(seed, name, {k: rec[name][k] for k in ("trainable_parameters", "hv_ratio", "mip", "monotonicity",
                                                          "oracle_distance", "seconds")}, acc, flush=True)
            path.write_text(json.dumps(rec, indent=1))
    print("reference point", REFERENCE)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("stage", choices=["base", "gate", "arms"])
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--base-steps", type=int, default=400)
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--arms", nargs="*", choices=list(ARMS), help="arms to train (default: all)")
    p.add_argument("--lam-reg", type=float, default=1.0, help="λ_reg of PBLoRA / MoSLoRA (0 = ablation)")
    args = p.parse_args()
    torch.set_num_threads(1)
    {"base": stage_base, "gate": stage_gate, "arms": stage_arms}[args.stage](args)


if __name__ == "__main__":
    main()
