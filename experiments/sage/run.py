"""SAGE / SAGE-RL decisive miniature (efficiency.md C.8). Subcommands, run from the repository root:

  python experiments/sage/run.py sft                 # warm start of the embedded 0.87M model -> runs/sage_exp/sft
  python experiments/sage/run.py gate                # calibration gate + Part 1 + primary measure on the SFT model
  python experiments/sage/run.py train ARM SEED      # Part 2 arm: grpo | sage | sage_phi | shortest | truncate
  python experiments/sage/run.py measure ARM SEED    # primary measure + outcome on a trained arm (ARM warm: the
                                                     # warm start itself, SEED sets the sampling seed)

Everything runs on one CPU thread; results go to runs/sage_exp/*.json (copied into results.md by hand).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import task  # noqa: E402

from credo.config import ModelConfig, SageConfig, SamplingConfig, SFTConfig, load_config  # noqa: E402
from credo.engines.hf import HFEngine  # noqa: E402
from credo.engines.sage import attach_policy_logprobs  # noqa: E402
from credo.engines.samplers import SAMPLERS, tag  # noqa: E402
from credo.experiment_utils import auroc  # noqa: E402
from credo.models import load_policy  # noqa: E402
from credo.sft.trainer import sft_train  # noqa: E402
from credo.train.checkpoint import save_hf_dir, seed_everything  # noqa: E402
from credo.trajectory import Trajectory  # noqa: E402

OUT = Path("runs/sage_exp")
SAMPLING = SamplingConfig(n=8, temperature=1.0, max_new_tokens=96, stop=[])
SAGE = SageConfig(width=2, tolerance=2, max_steps=10, delimiter="\n", end_think=task.END)
SFT_STEPS, SFT_LR, SFT_BATCH = 1500, 3e-3, 32
WARM = "sft500"  # the warm start that passed the gate: Part 2 starts from it


def encode(tok, text: str) -> list[int]:
    return tok(text)["input_ids"]


def cmd_sft(steps: int = SFT_STEPS, name: str = "sft") -> None:
    torch.set_num_threads(1)
    seed_everything(0)
    model, tok, _ = load_policy(ModelConfig(), "cpu")
    rows = task.rows("train", 8000, 0)
    ex = [(encode(tok, task.prompt(r)), tok(r["target"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
          for r in rows]
    t0 = time.time()
    out = sft_train(model, tok.pad_token_id, ex, SFTConfig(steps=steps, batch_size=SFT_BATCH, lr=SFT_LR), seed=0)
    save_hf_dir(OUT / name, model, tok)
    print(json.dumps({**out, "seconds": time.time() - t0}))


def think_phi(t: Trajectory, tok) -> float:
    """Φ of a sampled chain: mean log-prob of its tokens up to and including the end-of-thinking "#"."""
    end = tok(task.END, add_special_tokens=False)["input_ids"][0]
    ids = t.response_ids.tolist()
    k = ids.index(end) + 1 if end in ids else len(ids)
    return float(t.logprobs[:k].mean()) if k else 0.0


def summarise(trajs: list[Trajectory], answers: list[str]) -> dict:
    a = [task.analyse(t.response_text, g) for t, g in zip(trajs, answers)]
    rf = [x["rfcs"] for x in a if x["rfcs"] is not None]
    return {"accuracy": sum(x["correct"] for x in a) / len(a),
            "think_tokens": sum(x["think_tokens"] for x in a) / len(a),
            "median_rfcs": statistics.median(rf) if rf else None,
            "checks_after_right_first": statistics.mean([x["checks_after_first"] for x in a if x["first_right"]]
                                                        or [float("nan")])}


def phi_auroc(trajs: list[Trajectory], answers: list[str], tok) -> dict:
    """AUROC of Φ for correctness over all sampled chains, and at matched length: right/wrong pairs with the same
    number of think tokens only, pooled over lengths (every such pair weighs the same)."""
    by_len: dict[int, tuple[list[float], list[float]]] = {}
    right, wrong = [], []
    for t, g in zip(trajs, answers):
        a, phi = task.analyse(t.response_text, g), think_phi(t, tok)
        (right if a["correct"] else wrong).append(phi)
        by_len.setdefault(a["think_tokens"], ([], []))[0 if a["correct"] else 1].append(phi)
    pairs = {n: len(r) * len(w) for n, (r, w) in by_len.items() if r and w}
    matched = sum(auroc(*by_len[n]) * k for n, k in pairs.items()) / sum(pairs.values()) if pairs else float("nan")
    return {"auroc_phi": auroc(right, wrong), "auroc_phi_matched_length": matched,
            "matched_pairs": sum(pairs.values()), "matched_lengths": len(pairs)}


@torch.no_grad()
def stop_probability(model, tok, rows: list[dict]) -> dict:
    """Exact teacher-forced p("#" | prompt + gold partial sums + "ans s\\n"), s right or one-digit wrong."""
    end = tok(task.END, add_special_tokens=False)["input_ids"][0]
    rng = random.Random(123)
    out = {}
    for kind in ("right", "wrong"):
        prefixes = []
        for r in rows:
            lines, acc = [], r["terms"][0]
            for t in r["terms"][1:]:
                lines.append(f"{acc}+{t}={acc + t}")
                acc += t
            s = acc if kind == "right" else task.corrupt(acc, rng)
            prefixes.append(encode(tok, task.prompt(r) + "\n".join(lines) + f"\nans {s}\n"))
        from credo.models.forward import left_pad, prefill

        ids, mask = left_pad(prefixes, tok.pad_token_id)
        logits, _ = prefill(model, ids, mask)
        out[f"p_stop_{kind}"] = float(torch.softmax(logits.float(), -1)[:, end].mean())
    return out


def cmd_gate(n_prompts: int = 300, name: str = "sft", seed: int = 0) -> None:
    torch.set_num_threads(1)
    model, tok, _ = load_policy(ModelConfig(path=str(OUT / name)), "cpu")
    model.eval()
    rows = task.rows("eval", n_prompts, 0)
    answers = [r["answer"] for r in rows]
    prompts = [encode(tok, task.prompt(r)) for r in rows]
    engine = HFEngine(model, tok)
    res: dict = {"prompts": n_prompts}
    torch.manual_seed(seed)
    t0 = time.time()
    samples = []
    for i in range(0, n_prompts, 50):
        samples += engine.generate(prompts[i:i + 50], 8, SAMPLING)
    res["seconds_sampling"] = time.time() - t0
    groups = [samples[8 * i:8 * i + 8] for i in range(n_prompts)]
    res["sampling"] = summarise(samples, [a for a in answers for _ in range(8)])
    res["phi_auroc"] = phi_auroc(samples, [a for a in answers for _ in range(8)], tok)
    rng = random.Random(seed)
    picks = {"phi_rerank_of_8": [max(g, key=lambda t: think_phi(t, tok)) for g in groups],
             "shortest_of_8": [min(g, key=lambda t: t.num_tokens) for g in groups],
             "random_of_8": [rng.choice(g) for g in groups]}
    for arm, chosen in picks.items():
        res[arm] = summarise(chosen, answers)
    res["greedy"] = summarise(engine.generate(prompts, 1, SAMPLING, greedy=True), answers)
    for arm, rank in (("sage_phi", "chain"), ("sage_token", "token")):
        torch.manual_seed(seed)
        t0 = time.time()
        cfg = SageConfig(**{**SAGE.__dict__, "rank": rank})
        out = []
        for i in range(0, n_prompts, 50):
            out += SAMPLERS.get("sage")(engine, prompts[i:i + 50], 1, SAMPLING, cfg)
        res[arm] = summarise(out, answers) | {"seconds": time.time() - t0}
        if rank == "chain":
            best8 = [max(think_phi(t, tok) for t in g) for g in groups]
            res["gate_sage_phi_ge_best_of_8"] = sum(t.info["sage_phi"] >= b - 1e-6 for t, b in zip(out, best8)) \
                / n_prompts
    res["primary_sft"] = stop_probability(model, tok, task.rows("eval", 500, 0))
    s = res["sampling"]
    res["gate"] = {"checks_after_right_first>=1": s["checks_after_right_first"] >= 1.0,
                   "median_rfcs<=0.7": s["median_rfcs"] is not None and s["median_rfcs"] <= 0.7,
                   "sage_phi>=best_of_8_on_80pct": res["gate_sage_phi_ge_best_of_8"] >= 0.8,
                   "sft_accuracy_in_[0.5,0.8]": 0.5 <= s["accuracy"] <= 0.8}
    (OUT / f"gate_{name}_n{n_prompts}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


# --- Part 2 controls, registered as samplers so SAGE-RL's group_rollout injects them as its r members ----------
@SAMPLERS.register("shortest_of_8")
def shortest_of_8(engine, prompts, n, sampling, sage=None, version=0):
    pool = engine.generate(prompts, 8, sampling, version=version)
    out = []
    for i in range(len(prompts)):
        out += sorted(pool[8 * i:8 * i + 8], key=lambda t: t.num_tokens)[:n]
    return tag(out, "shortest_of_8")


@SAMPLERS.register("truncate_first")
def truncate_first(engine, prompts, n, sampling, sage=None, version=0):
    """Samples cut after their first "ans s" line and closed with "# s" (+ EOS); log-probs recomputed."""
    tok = engine.tok
    out = engine.generate(prompts, n, sampling, version=version)
    for t in out:
        lines = t.response_text.split("\n")
        k = next((i for i, x in enumerate(lines) if x.startswith("ans ")), None)
        if k is None:
            continue
        text = "\n".join(lines[:k + 1]) + f"\n{task.END} {lines[k][4:].strip()}"
        ids = tok(text, add_special_tokens=False)["input_ids"][: sampling.max_new_tokens - 1] + [tok.eos_token_id]
        t.response_ids = torch.tensor(ids, dtype=torch.long)
        t.response_text, t.finish_reason = tok.decode(ids, skip_special_tokens=True), "stop"
        t.loss_mask = torch.ones(len(ids))
        t.versions = torch.full((len(ids),), version, dtype=torch.long)
    attach_policy_logprobs(engine.model, engine.pad_id, out, sampling.temperature)
    return tag(out, "truncate_first")


ARMS = {"grpo": ["sage.rollouts=0"], "sage": ["sage.rollouts=2"], "sage_phi": ["sage.rollouts=2", "sage.rank=token"],
        "shortest": ["sage.rollouts=2", "sage.sampler=shortest_of_8"],
        "truncate": ["sage.rollouts=2", "sage.sampler=truncate_first"]}


def arm_config(arm: str, seed: int, steps: int):
    s = SAGE
    return load_config(None, [
        f"model.path={OUT / WARM}", "model.chat_template=false", "task.kind=callable", "task.name=task:rows",
        'task.prompt_template="{question}=\\n"', "task.answer_marker='#'", "task.size=4000", "task.eval_size=500",
        "task.seed=0", "task.kwargs={}", "sampling.n=8", "sampling.max_new_tokens=96", "sampling.stop=[]",
        f"sage.width={s.width}",
        f"sage.tolerance={s.tolerance}", f"sage.max_steps={s.max_steps}", "sage.delimiter=\"\\n\"",
        f"sage.end_think='{s.end_think}'", "algo.advantage=grpo", "algo.loss_agg=seq_mean_token_mean",
        "algo.kl_coef=0.001", f"train.steps={steps}", "train.prompts_per_step=16", "train.lr=2e-5",
        "train.threads=1", f"train.seed={seed}", "eval.every=50", "eval.size=100", "eval.pass_k=0",
        "log.tensorboard=false", "log.progress=false", "log.report=false", f"log.output_dir={OUT / f'{arm}_s{seed}'}",
        "log.save_every=0", *ARMS[arm]])


def cmd_train(arm: str, seed: int, steps: int = 150) -> None:
    from credo.train.rl import RLTrainer

    trainer = RLTrainer(arm_config(arm, seed, steps), overwrite=True)
    trainer.run()
    trainer.export()


def cmd_measure(arm: str, seed: int) -> None:
    torch.set_num_threads(1)
    run = OUT / f"{arm}_s{seed}"
    model, tok, _ = load_policy(ModelConfig(path=str(OUT / WARM if arm == "warm" else run / "policy")), "cpu")
    model.eval()
    rows = task.rows("eval", 500, 0)
    res = {"arm": arm, "seed": seed, **stop_probability(model, tok, rows)}
    engine = HFEngine(model, tok)
    torch.manual_seed(1000 + seed)
    prompts = [encode(tok, task.prompt(r)) for r in rows]
    out = []
    for i in range(0, len(prompts), 50):
        out += engine.generate(prompts[i:i + 50], 4, SAMPLING)
    res["sampling_500x4"] = summarise(out, [r["answer"] for r in rows for _ in range(4)])
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()] if arm != "warm" else []
    for src in ("sage", "sample", "shortest_of_8", "truncate_first"):
        adv = [m[f"source/{src}/advantage_mean"] for m in metrics if f"source/{src}/advantage_mean" in m]
        if adv:
            res[f"E[A|{src}]"] = sum(adv) / len(adv)
    (OUT / f"measure_{arm}_s{seed}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:]
    {"sft": lambda n=str(SFT_STEPS), name="sft": cmd_sft(int(n), name),
     "gate": lambda n="300", name="sft": cmd_gate(int(n), name),
     "train": lambda a, s, n="150": cmd_train(a, int(s), int(n)),
     "measure": lambda a, s: cmd_measure(a, int(s))}[cmd](*rest)
