"""credo GRPO vs TRL ``GRPOTrainer``: the same update on the same CPU workload, timed in one process.

Workload (docs: /work/shared/design/performance.md, benchmarks/README.md): credo's embedded tiny char-level Llama,
SFT-warmed once (cached under benchmarks/out/), reasoning-gym ``chain_sum`` (2 terms, 1-2 digits) prompts
``<question> Answer:``, 8 prompts x 8 samples per step, 16 new tokens, temperature 1 / top-p 1 / top-k 0, beta 0,
one AdamW step per batch, token-mean loss, fp32, CPU, ``--threads`` intra-op threads.

Both systems start from the same SFT weights, see the same prompts in the same order (TRL's dataset is laid out in
credo's data-cursor order, unshuffled) and score completions with the same verifier (credo's task). Each trains its
own copy. After ``--warmup`` steps of each, they alternate in blocks of ``--block`` steps; TRL is timed from
``on_step_begin`` to ``on_step_end`` (generation + reward + advantages + loss + backward + clip + AdamW), credo
around ``RLTrainer.train_step()`` (the same work).

Run: ``make bench`` (or ``.venv/bin/python benchmarks/grpo_vs_trl.py --steps 12 --warmup 2 --block 2``).
``--check`` first verifies on one batch that credo's loss / gradient equals TRL's; ``--profile N`` profiles N credo
steps with cProfile (and the torch profiler) instead of benchmarking.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
RECIPES = ROOT / "src" / "credo" / "recipes"
# Workloads (benchmarks/README.md): w1 the CPU anchor (completions of ~4 tokens); w2 the same model, 256 new tokens
# with EOS suppressed in both systems; w3 SmolLM2-135M-Instruct on ASDiv through the chat template.
WORKLOADS = {
    "w1": {"recipe": "grpo.yaml", "sft": True, "min_new_tokens": 0, "overrides": []},
    "w2": {"recipe": "grpo.yaml", "sft": True, "min_new_tokens": 256, "overrides": ["sampling.max_new_tokens=256"]},
    # w3 trains in micro-batches of 8 rows in both systems (gradient accumulation, same update): a whole 32-row
    # batch of a 49k-vocabulary model needs > 20 GB of activations and logits per system on this 24 GB machine.
    "w3": {"recipe": "smollm2_grpo.yaml", "sft": False, "min_new_tokens": 0, "micro_batch": 8,
           "overrides": ["train.prompts_per_step=4", "sampling.max_new_tokens=128", "train.micro_batch_size=8"]},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="w1", help="w1 anchor | w2 long | w3 SmolLM2")
    p.add_argument("--steps", type=int, default=12, help="timed steps per system (after warm-up)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps per system")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads for both systems")
    p.add_argument("--block", type=int, default=2, help="steps per system per alternation block")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the grpo recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sft-steps", type=int, default=None, help="SFT warm-start steps (default: the recipe's)")
    p.add_argument("--check", action="store_true", help="first check loss/gradient equality on one batch")
    p.add_argument("--profile", type=int, default=0, help="profile this many credo steps instead of benchmarking")
    p.add_argument("--json", type=Path, default=None, help="raw results (default benchmarks/out/grpo_vs_trl_<w>.json)")
    args = p.parse_args(argv)
    args.json = args.json or OUT / f"grpo_vs_trl_{args.workload}.json"
    return args


# ----------------------------------------------------------------------------------------------- machine & FLOPs
def matmul_peak(threads: int, size: int = 1024, reps: int = 20) -> float:
    """Best fp32 ``size x size`` matmul GFLOP/s at the current thread count (2 n^3 FLOPs per product)."""
    import torch

    assert torch.get_num_threads() == threads
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2 * size**3 / best / 1e9


def matmul_params(model) -> int:
    """N: weights used in matmuls per token (every nn.Linear incl. the tied LM head; embeddings lookups and
    attention score/value products excluded)."""
    import torch

    return sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


class PeakRSS:
    """Peak resident memory per label, sampled every 5 ms by a thread: ``with rss("credo"): ...``. Both systems live
    in one process, so each peak includes the other's resident weights; ``base`` is the RSS before the timed steps.
    glibc's free lists are trimmed before each labelled block, so one system's freed heap is not charged to the
    other."""

    def __init__(self):
        import ctypes
        import threading

        try:
            self.trim = ctypes.CDLL("libc.so.6").malloc_trim
        except OSError:
            self.trim = lambda _: None
        self.peak: dict[str, int] = {}
        self.label: str | None = None
        self.base = self.now()
        threading.Thread(target=self.loop, daemon=True).start()

    @staticmethod
    def now() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def loop(self) -> None:
        while True:
            if self.label:
                self.peak[self.label] = max(self.peak.get(self.label, 0), self.now())
            time.sleep(0.005)

    def start(self, label: str) -> None:
        self.trim(0)
        self.label = label

    def stop(self) -> None:
        if self.label:
            self.peak[self.label] = max(self.peak.get(self.label, 0), self.now())
        self.label = None


def suppress_eos(model, eos_id: int) -> None:
    """EOS logit -> -inf in every no-grad forward (sampling; the training forward keeps the full distribution): how
    credo's engine gets the effect of TRL's ``min_new_tokens`` in the w2 workload."""
    import torch

    def hook(_module, _inputs, out):
        if torch.is_grad_enabled():
            return out
        return out.index_fill(-1, torch.tensor([eos_id], device=out.device), float("-inf"))

    model.get_output_embeddings().register_forward_hook(hook)


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


# ----------------------------------------------------------------------------------------------- SFT warm start
def sft_weights(recipe_cfg, threads: int) -> Path:
    """SFT-warm credo's embedded model once with the recipe's ``sft`` section; cached under benchmarks/out/."""
    import torch

    from credo.config import to_dict
    from credo.models import encode_prompt, load_policy
    from credo.sft.trainer import sft_train
    from credo.tasks import build_task

    d = to_dict(recipe_cfg)
    key = json.dumps({k: d[k] for k in ("model", "task", "sft")} | {"seed": d["train"]["seed"]}, sort_keys=True)
    out = OUT / f"sft-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "config.json").is_file():
        return out
    print(f"SFT warm start ({recipe_cfg.sft.steps} steps) -> {out}", flush=True)
    torch.manual_seed(recipe_cfg.train.seed)
    model, tok, _ = load_policy(recipe_cfg.model)
    task = build_task(recipe_cfg.task)
    rows = task.rows("train")[: recipe_cfg.sft.size]
    examples = [
        (
            encode_prompt(tok, task.prompt(r), recipe_cfg.model.chat_template),
            tok(task.target(r), add_special_tokens=False)["input_ids"] + [tok.eos_token_id],
        )
        for r in rows
    ]
    t0 = time.perf_counter()
    m = sft_train(model, tok.pad_token_id, examples, recipe_cfg.sft, seed=recipe_cfg.train.seed)
    print(f"  SFT loss {m['sft/loss_first']:.3f} -> {m['sft/loss_last']:.3f} in {time.perf_counter() - t0:.0f}s")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    os.replace(tmp, out)
    return out


def longer_context(model_dir: Path, positions: int) -> Path:
    """A copy of ``model_dir`` whose config allows ``positions`` tokens (the embedded model is built for 256; rotary
    positions extrapolate, and w2 needs prompt ~78 + 256 new tokens)."""
    out = model_dir.with_name(f"{model_dir.name}-ctx{positions}")
    if not (out / "config.json").is_file():
        shutil.copytree(model_dir, out, dirs_exist_ok=True)
        cfg = json.loads((out / "config.json").read_text())
        cfg["max_position_embeddings"] = positions
        (out / "config.json").write_text(json.dumps(cfg, indent=2))
    return out


# ----------------------------------------------------------------------------------------------- the two systems
def build_credo(args, model_path: str, total_steps: int):
    from credo.config import load_config
    from credo.train.rl import RLTrainer

    run_dir = OUT / "credo_run"
    shutil.rmtree(run_dir, ignore_errors=True)
    overrides = [
        "sft.steps=0",
        "log.tensorboard=false",
        "log.progress=false",
        "log.report=false",
        "eval.every=0",
        f"log.output_dir={run_dir}",
        f"model.path={model_path}",
        f"train.threads={args.threads}",
        f"train.steps={total_steps}",
        f"train.seed={args.seed}",
        "sampling.stop=[]",  # TRL's transformers generate stops on EOS / length only
        "algo.std_eps=1.0e-4",  # TRL: (r - mean) / (std + 1e-4); credo: (r - mean) / (std + std_eps)
        "algo.loss_agg=token_mean",  # TRL loss_type="dapo" (the grpo recipe aggregates per sequence)
        *WORKLOADS[args.workload]["overrides"],
    ]
    if args.lr is not None:
        overrides.append(f"train.lr={args.lr}")
    cfg = load_config(RECIPES / WORKLOADS[args.workload]["recipe"], overrides)
    trainer = RLTrainer(cfg)
    if cfg.task.kind == "reasoning_gym":
        # The workload's reward: 1.0 iff the text after the last "Answer:" (stripped, first line) equals the gold
        # answer (reasoning-gym's chain_sum scorer would also give partial credit, e.g. 0.67 for "142" vs "42").
        # Both systems score through this same verifier (w3: the math task's own verifier, in both).
        trainer.task._score = lambda row, extracted: float(extracted == str(row["answer"]))
    if WORKLOADS[args.workload]["min_new_tokens"]:
        suppress_eos(trainer.model, trainer.tok.eos_token_id)
    return cfg, trainer


def build_trl(args, cfg, model_dir: Path, task, rows: list[dict], order: list[int], total_steps: int, record: dict):
    """A GRPOTrainer on the same weights, prompts (in credo's cursor order), verifier and hyper-parameters."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(model_dir)
    chat = cfg.model.chat_template and getattr(tok, "chat_template", None)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": task.prompt(rows[i])}] if chat else
                               task.prompt(rows[i]), "row_idx": i} for i in order])

    def reward(prompts, completions, completion_ids, row_idx, **_):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        scores = [float(task.verify(rows[i], c).score) for i, c in zip(row_idx, texts)]
        record["reward"].append(sum(scores) / len(scores))
        record["gen_tokens"].append(sum(len(c) for c in completion_ids))
        record["rows"].append(list(row_idx[:: cfg.sampling.n]))
        return scores

    tc, ac, sc = cfg.train, cfg.algo, cfg.sampling
    batch = tc.prompts_per_step * sc.n
    micro = WORKLOADS[args.workload].get("micro_batch", batch)
    targs = GRPOConfig(
        output_dir=str(OUT / "trl_run"),
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=batch // micro,  # one generation of `batch` rows per optimizer step, as credo's
        num_generations=sc.n,
        max_completion_length=sc.max_new_tokens,
        temperature=sc.temperature,
        top_p=sc.top_p,
        top_k=sc.top_k,
        beta=ac.kl_coef,
        num_iterations=tc.epochs,
        epsilon=ac.eps_low,
        epsilon_high=ac.eps_high,
        loss_type="dapo",
        scale_rewards="group",
        mask_truncated_completions=ac.overlong_filter,
        learning_rate=tc.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=tc.weight_decay,
        adam_beta1=tc.betas[0],
        adam_beta2=tc.betas[1],
        adam_epsilon=1e-8,
        max_grad_norm=tc.grad_clip,
        max_steps=total_steps,
        shuffle_dataset=False,
        seed=args.seed,
        data_seed=args.seed,
        logging_strategy="no",
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        log_completions=False,
        generation_kwargs={"min_new_tokens": m} if (m := WORKLOADS[args.workload]["min_new_tokens"]) else None,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=targs, train_dataset=data, processing_class=tok)
    return trainer


def trl_inputs(trajs, pad_id: int, n_tok: float):
    """credo trajectories -> the dict TRL's ``compute_loss`` takes (left-padded prompts, right-padded completions)."""
    import torch

    from credo.models.forward import left_pad, right_pad

    p_ids, p_mask = left_pad([t.prompt_ids for t in trajs], pad_id)
    c_ids = right_pad([t.response_ids for t in trajs], pad_id, torch.long)
    c_mask = right_pad([torch.ones(t.num_tokens, dtype=torch.long) for t in trajs], 0, torch.long)
    return {
        "prompt_ids": p_ids,
        "prompt_mask": p_mask,
        "completion_ids": c_ids,
        "completion_mask": c_mask,
        "advantages": torch.tensor([float(t.advantage) for t in trajs]),
        "num_items_in_batch": torch.tensor(n_tok),
    }


def check_same_update(credo, trl_trainer) -> dict:
    """One credo rollout batch: credo's advantages vs TRL's formula, credo's loss/gradient vs TRL's compute_loss."""
    import torch

    from credo.credit import compute_advantages

    state, next_group = credo.cursor.state_dict(), credo.next_group
    trajs, _ = credo.rollout()
    credo.cursor.load_state_dict(state)
    credo.next_group = next_group
    trajs = sorted(trajs, key=lambda t: t.group_id)
    r = torch.tensor([t.reward for t in trajs]).view(-1, credo.cfg.sampling.n)
    synthetic = bool((r.std(1) == 0).all())
    if synthetic:  # every group's rewards are equal: advantages, loss and gradient would be 0 in both (vacuous)
        r = torch.rand(r.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64).float()
        for t, v in zip(trajs, r.view(-1).tolist()):
            t.reward = v
    compute_advantages(trajs, credo.cfg.algo)
    trl_adv = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)).view(-1)  # TRL: nanstd (Bessel)
    adv_diff = float((trl_adv - torch.tensor([float(t.advantage) for t in trajs])).abs().max())

    n_tok = float(sum(t.num_tokens for t in trajs))
    n_seq = float(len(trajs))
    credo.model.train()
    loss_c, _, _ = credo.learner._loss(trajs, n_tok, n_seq)
    loss_c.backward()
    g_c = {k: p.grad.detach().clone() for k, p in credo.model.named_parameters() if p.grad is not None}
    credo.model.zero_grad(set_to_none=True)

    m = trl_trainer.model
    m.train()
    # The whole batch in one call, normalised as in training (TRL's dapo normaliser scales with the current
    # accumulation count over steps_per_generation, which are equal in training).
    trl_trainer.current_gradient_accumulation_steps = trl_trainer.args.gradient_accumulation_steps
    loss_t = trl_trainer.compute_loss(m, trl_inputs(trajs, credo.tok.pad_token_id, n_tok))
    loss_t.backward()
    g_t = {k: p.grad.detach().clone() for k, p in m.named_parameters() if p.grad is not None}
    m.zero_grad(set_to_none=True)
    trl_trainer._metrics["train"].clear()
    gdiff = max(float((g_c[k] - g_t[k]).abs().max()) for k in g_c)
    gmax = max(float(g.abs().max()) for g in g_c.values())
    return {
        "rewards": "synthetic U(0,1): the real ones were all equal" if synthetic else "real",
        "adv_max_abs_diff": adv_diff,
        "loss_credo": float(loss_c),
        "loss_trl": float(loss_t),
        "grad_max_abs_diff": gdiff,
        "grad_max_abs": gmax,
        "same_param_names": sorted(g_c) == sorted(g_t),
        "weights_equal": all(
            torch.equal(a, b) for a, b in zip(credo.model.state_dict().values(), m.state_dict().values())
        ),
    }


# ----------------------------------------------------------------------------------------------- profiling
def profile_credo(credo, steps: int) -> None:
    for _ in range(2):
        credo.train_step()
    prof = cProfile.Profile()
    prof.enable()
    t0 = time.perf_counter()
    for _ in range(steps):
        credo.train_step()
    wall = time.perf_counter() - t0
    prof.disable()
    print(f"\ncProfile over {steps} credo steps ({wall / steps:.3f} s/step under the profiler)")
    for key in ("tottime", "cumulative"):
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats(key).print_stats(30)
        print(s.getvalue())
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as tp:
        for _ in range(steps):
            credo.train_step()
    print(tp.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))


# ----------------------------------------------------------------------------------------------- reporting
def summary(xs: list[float]) -> tuple[float, float]:
    return (min(xs), statistics.median(xs)) if xs else (float("nan"), float("nan"))


def plot(credo_rewards: list[float], trl_rewards: list[float], warmup: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(credo_rewards) + 1), credo_rewards, "o-", label="credo GRPO")
    ax.plot(range(1, len(trl_rewards) + 1), trl_rewards, "s-", label="TRL GRPOTrainer")
    if warmup:
        ax.axvline(warmup + 0.5, color="grey", ls=":", lw=1)
    ax.set_xlabel("RL step (same prompts per step for both)")
    ax.set_ylabel("mean reward of the step's samples")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    from credo.config import load_config
    from credo.train.rl import DataCursor

    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}  load avg {load_avg()}  threads {args.threads}  {machine()}")
    print(f"torch {torch.__version__}", end="")
    import transformers
    import trl

    print(f", transformers {transformers.__version__}, trl {trl.__version__}")

    wl = WORKLOADS[args.workload]
    sft_over = [f"sft.steps={args.sft_steps}"] if args.sft_steps else []
    recipe = load_config(RECIPES / wl["recipe"], [f"train.seed={args.seed}", *sft_over])
    total = args.warmup + args.steps
    if wl["sft"]:
        model_path = str(sft_weights(recipe, args.threads))
        if args.workload == "w2":
            model_path = str(longer_context(Path(model_path), 512))
    else:
        from credo.models import resolve_model_dir

        model_path = str(resolve_model_dir(recipe.model))
    cfg, credo = build_credo(args, model_path, total)
    print(f"workload {args.workload}: {json.dumps(wl)}")
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_credo(credo, args.profile)
        return 0

    rows = credo.train_rows
    n_prompts = cfg.train.prompts_per_step
    order = DataCursor(len(rows), cfg.train.seed).take(n_prompts * total)  # credo's prompt order, step by step
    trl_rec: dict[str, list] = {"reward": [], "gen_tokens": [], "rows": [], "t_step": [], "t_gen": [], "t_gen_only": []}
    trl_trainer = build_trl(args, cfg, Path(model_path), credo.task, rows, order, total, trl_rec)
    if trl_trainer.eos_token_ids != credo.engine.eos_ids and sorted(trl_trainer.eos_token_ids) != credo.engine.eos_ids:
        print(f"note: EOS ids differ: TRL {trl_trainer.eos_token_ids}, credo {credo.engine.eos_ids}")
    torch.set_num_threads(args.threads)

    N = matmul_params(credo.model)
    peak = matmul_peak(args.threads)
    print(
        f"N = {N:,} matmul params (incl. tied LM head); fp32 1024^3 matmul peak {peak:.1f} GFLOP/s "
        f"on {args.threads} threads"
    )
    check = check_same_update(credo, trl_trainer) if args.check else None
    if check:
        print("same-update check on one credo batch:", json.dumps(check))
    if args.steps == 0:
        return 0

    from credo.models import encode_prompt

    prompt_tok = {i: len(encode_prompt(credo.tok, credo.task.prompt(rows[i]), cfg.model.chat_template))
                  for i in set(order)}
    rss = PeakRSS()
    credo_rec: dict[str, list] = {"reward": [], "gen_tokens": [], "rows": [], "t_step": [], "phases": []}
    score, rid = credo.score, {id(r): i for i, r in enumerate(rows)}

    def scored(trajs, rws):  # record which rows credo used (to confirm both systems see the same prompts)
        credo_rec["rows"].append([rid[id(r)] for r in rws])
        return score(trajs, rws)

    credo.score = scored

    def credo_block(k: int) -> None:
        for _ in range(k):
            if len(credo_rec["t_step"]) >= total:
                return
            assert torch.get_num_threads() == args.threads
            rss.start("credo")
            t0 = time.perf_counter()
            m = credo.train_step()
            credo_rec["t_step"].append(time.perf_counter() - t0)
            rss.stop()
            credo_rec["reward"].append(m["reward/mean"])
            credo_rec["gen_tokens"].append(m["perf/generated_tokens"])
            credo_rec["phases"].append({k: v for k, v in m.items() if k.startswith("timing/")})

    gen = trl_trainer._generate_and_score_completions

    def timed_gen(*a, **kw):
        t0 = time.perf_counter()
        out = gen(*a, **kw)
        trl_rec["t_gen"].append(time.perf_counter() - t0)
        return out

    trl_trainer._generate_and_score_completions = timed_gen
    single = trl_trainer._generate_single_turn  # transformers generate alone (no reward / advantages)

    def timed_single(*a, **kw):
        t0 = time.perf_counter()
        out = single(*a, **kw)
        trl_rec["t_gen_only"].append(time.perf_counter() - t0)
        return out

    trl_trainer._generate_single_turn = timed_single
    from transformers import TrainerCallback

    class Interleave(TrainerCallback):
        def on_step_begin(self, *_, **__):
            assert torch.get_num_threads() == args.threads
            rss.start("trl")
            self.t0 = time.perf_counter()

        def on_step_end(self, *_, **__):
            trl_rec["t_step"].append(time.perf_counter() - self.t0)
            rss.stop()
            done = len(trl_rec["t_step"])
            if done <= args.warmup:  # warm-up: one credo step after each TRL step
                credo_block(1)
            elif (done - args.warmup) % args.block == 0:
                credo_block(args.block)

    trl_trainer.add_callback(Interleave())
    print(
        f"running {args.warmup} warm-up + {args.steps} timed steps per system, alternating blocks of {args.block}",
        flush=True,
    )
    trl_trainer.train()
    credo_block(total)  # any remainder
    load_after = load_avg()

    w = args.warmup
    same_prompts = credo_rec["rows"] == trl_rec["rows"]
    res: dict = {
        "workload": args.workload,
        "machine": machine(),
        "threads": args.threads,
        "load_avg_before_after": load_after,
        "N": N,
        "peak_gflops": peak,
        "steps": args.steps,
        "warmup": w,
        "block": args.block,
        "same_prompts": same_prompts,
        "check": check,
        "rss_base_mb": rss.base / 2**20,
        "rss_peak_mb": {k: v / 2**20 for k, v in rss.peak.items()},
    }
    for name, rec in (("credo", credo_rec), ("trl", trl_rec)):
        t = rec["t_step"][w:]
        p_tok = [sum(prompt_tok[i] for i in order[s * n_prompts : (s + 1) * n_prompts]) for s in range(total)][w:]
        c_tok = rec["gen_tokens"][w:]
        useful = [8 * N * (p + c) for p, c in zip(p_tok, c_tok)]  # 2N gen + 6N train, each distinct token once
        mfu = [f / s / (peak * 1e9) for f, s in zip(useful, t)]
        res[name] = {
            "s_per_step": rec["t_step"],
            "reward": rec["reward"],
            "gen_tokens": rec["gen_tokens"],
            "min": min(t),
            "median": statistics.median(t),
            "mfu_median": statistics.median(mfu),
            "mfu_at_min": max(mfu),
            "prompt_tokens_distinct": p_tok,
            "completion_tokens": c_tok,
        }
    res["credo"]["phases"], res["trl"]["t_gen"] = credo_rec["phases"], trl_rec["t_gen"]
    ph = credo_rec["phases"][w:]
    res["credo"]["phases_median"] = {k: statistics.median(p.get(k, 0.0) for p in ph) for k in ph[0]}
    tg = trl_rec["t_gen"][w:]
    res["trl"]["phases_median"] = {
        "timing/generate+reward+adv": statistics.median(tg),
        "timing/generate": statistics.median(trl_rec["t_gen_only"][w:]),
        "timing/train(loss+bwd+opt)": statistics.median([a - b for a, b in zip(trl_rec["t_step"][w:], tg)]),
    }
    gen_s = {"credo": [p["timing/generate"] for p in ph], "trl": trl_rec["t_gen_only"][w:]}
    for name in ("credo", "trl"):
        toks = res[name]["completion_tokens"]
        res[name]["gen_tokens_per_s_median"] = statistics.median(c / s for c, s in zip(toks, gen_s[name]))
    res["ratio_min"] = res["credo"]["min"] / res["trl"]["min"]
    res["ratio_median"] = res["credo"]["median"] / res["trl"]["median"]
    # per-step paired ratio (credo step i vs TRL step i, measured within a few seconds of each other)
    res["ratio_paired_median"] = statistics.median(
        c / t for c, t in zip(credo_rec["t_step"][w:], trl_rec["t_step"][w:])
    )

    print("\nper-step mean reward (same prompts per step):")
    print("step  credo   TRL")
    for i, (a, b) in enumerate(zip(credo_rec["reward"], trl_rec["reward"])):
        print(f"{i + 1:4d}  {a:.3f}  {b:.3f}{'   (warm-up)' if i < w else ''}")
    c, t = res["credo"], res["trl"]
    print(f"\n{'':22s}{'credo':>10s}{'TRL':>10s}")
    print(f"{'s/step min':22s}{c['min']:10.3f}{t['min']:10.3f}")
    print(f"{'s/step median':22s}{c['median']:10.3f}{t['median']:10.3f}")
    print(f"{'MFU (median step)':22s}{c['mfu_median']:10.1%}{t['mfu_median']:10.1%}")
    print(f"{'gen tokens/s (median)':22s}{c['gen_tokens_per_s_median']:10.0f}{t['gen_tokens_per_s_median']:10.0f}")
    pk = res["rss_peak_mb"]
    print(f"{'peak RSS MB in steps':22s}{pk.get('credo', 0):10.0f}{pk.get('trl', 0):10.0f}"
          f"   (process RSS before the timed steps {res['rss_base_mb']:.0f} MB, both models loaded)")
    print(
        f"{'completion tok/step':22s}{statistics.mean(c['completion_tokens']):10.1f}"
        f"{statistics.mean(t['completion_tokens']):10.1f}"
    )
    rc, rt = statistics.mean(c["reward"][w:]), statistics.mean(t["reward"][w:])
    print(f"{'mean reward (timed)':22s}{rc:10.3f}{rt:10.3f}")
    print(
        f"ratio credo/TRL: min {res['ratio_min']:.3f}, median {res['ratio_median']:.3f}, "
        f"paired-median {res['ratio_paired_median']:.3f}"
    )
    print("credo phases (median s):", {k: round(v, 4) for k, v in c["phases_median"].items()})
    print("TRL phases (median s):", {k: round(v, 4) for k, v in t["phases_median"].items()})
    print(f"same prompts per step: {same_prompts}; load avg after: {load_after}")
    print(
        "MFU = 8 N (distinct prompt tokens + completion tokens) / step time / measured matmul peak "
        "(2N per token generated/prefilled once, 6N per token trained; attention excluded)"
    )
    title = {"w1": "GRPO on chain_sum, embedded tiny Llama (SFT-warmed)", "w2": "w2: 256 new tokens, embedded model",
             "w3": "w3: SmolLM2-135M-Instruct on ASDiv"}[args.workload]
    png = OUT / ("grpo_vs_trl_reward.png" if args.workload == "w1" else f"grpo_vs_trl_reward_{args.workload}.png")
    plot(c["reward"], t["reward"], w, png, title + ", same prompts per step")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1))
    print(f"wrote {png} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
