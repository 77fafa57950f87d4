"""R2M decisive miniature (calibration gate and paired arms; reduced form, see results.md).

Per seed: SFT a 0.87M embedded policy on chain_sum (shared by all arms), sample gold pairs from it, inject the
spurious feature ("!" before the end of the response, P = 0.75 in the chosen, 0.25 in the rejected response) and
BT-train a proxy head on a second frozen 0.87M trunk (shared by all arms). Gold = the task verifier (a "!" makes an
answer wrong). Then RLOO + KL with the proxy as reward, one run per arm; every ``--every`` steps: gold, proxy,
spurious rate, KL and RM accuracy on gold pairs sampled from the current policy (scored with current policy states).

    python experiments/r2m/run.py --seeds 0 --arms frozen --steps 150 --out experiments/r2m/results
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from credo.config import load_config
from credo.rewards.pairs import Pair, write_pairs
from credo.rm import save_reward_model
from credo.tasks import encode_task_prompt
from credo.train.rl import RLTrainer

ARMS = {
    "frozen": ["rm.fusion=none", "rm.update=none"],
    "head": ["rm.fusion=none", "rm.update=grebt"],
    "r2m": ["rm.fusion=policy", "rm.update=grebt"],
    "r2m_self": ["rm.fusion=self", "rm.update=grebt"],
    "r2m_noise": ["rm.fusion=noise", "rm.update=grebt"],
}
BASE = ["task.kwargs={min_terms: 2, max_terms: 2, min_digits: 1, max_digits: 1}", "task.size=150", "task.eval_size=48",
        "sampling.n=8", "sampling.max_new_tokens=8", "sampling.temperature=1.0",
        "algo.advantage=rloo", "train.prompts_per_step=16", "train.threads=1", "eval.every=0", "eval.size=48",
        "eval.pass_k=0", "log.tensorboard=false", "log.progress=false", "log.report=false", "rm.enabled=true",
        "rm.model={init_seed: 101}", "rm.d=64", "rm.omega_floor=0.6", "rm.alpha=0.3"]


def spurious(text: str) -> str:
    """Insert '!' before a trailing newline (or at the end)."""
    return text[:-1] + "!\n" if text.endswith("\n") else text + "!"


def build_pairs(tr: RLTrainer, n_prompts: int, seed: int, p_chosen: float = 0.75, p_rejected: float = 0.25):
    """Gold pairs (correct vs wrong response to one prompt) sampled from the current policy, with the spurious '!'
    injected; -> pairs, correlation-free stats."""
    rng = random.Random(seed)
    rows = (tr.train_rows * (1 + n_prompts // len(tr.train_rows)))[:n_prompts]
    prompts = [encode_task_prompt(tr.tok, tr.task, r, tr.cfg.model.chat_template) for r in rows]
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(rows), 64):
            trajs = tr.engine.generate(prompts[i:i + 64], 8, tr.cfg.sampling)
            for j, row in enumerate(rows[i:i + 64]):
                group = trajs[j * 8:(j + 1) * 8]
                good = [t.response_text for t in group if tr.task.verify(row, t.response_text).score >= 1]
                bad = [t.response_text for t in group if tr.task.verify(row, t.response_text).score < 1]
                if good and bad:
                    c, r = rng.choice(good), rng.choice(bad)
                    c = spurious(c) if rng.random() < p_chosen else c
                    r = spurious(r) if rng.random() < p_rejected else r
                    out.append(Pair(tr.task.prompt(row), c, r, "gold"))
    return out


@torch.no_grad()
def measure(tr: RLTrainer, step: int, seed: int) -> dict[str, float]:
    """Gold/proxy/spurious on fresh current-policy samples of held-out prompts, and RM accuracy on the gold pairs
    among them (chosen = correct, rejected = wrong, same prompt), with the RM's states of the current policy."""
    rm = tr.reward_model
    rows = tr.train_rows[:48]  # the prompts RL optimises on (the SFT policy solves few held-out ones)
    prompts = [encode_task_prompt(tr.tok, tr.task, r, tr.cfg.model.chat_template) for r in rows]
    noise_state = rm.noise.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1000 + step)
        trajs = tr.engine.generate(prompts, 4, tr.cfg.sampling)
        for i, t in enumerate(trajs):
            t.group_id, t.prompt_text = i // 4, tr.task.prompt(rows[i // 4])
        rm.score(trajs, step)
        rm.pop_metrics()
    rm.noise.set_state(noise_state)
    gold = [float(tr.task.verify(rows[i // 4], t.response_text).score >= 1) for i, t in enumerate(trajs)]
    right = total = 0
    for g in range(len(rows)):
        idx = range(4 * g, 4 * g + 4)
        for a in idx:
            for b in idx:
                if gold[a] > gold[b]:
                    total += 1
                    right += trajs[a].reward > trajs[b].reward
    return {"gold": sum(gold) / len(gold), "proxy": sum(t.reward for t in trajs) / len(trajs),
            "spurious": sum("!" in t.response_text for t in trajs) / len(trajs),
            "rm_acc": right / total if total else float("nan"), "rm_pairs": float(total)}


def run_arm(arm: str, seed: int, policy_dir: Path, rm_dir: Path, out: Path, args) -> list[dict]:
    cfg = load_config(None, BASE + ARMS[arm] + [
        f"model.path={policy_dir}", "sft.steps=0", f"train.seed={seed}", f"rm.seed={seed}", f"rm.load={rm_dir}",
        f"train.steps={args.steps}", f"train.lr={args.lr}", f"algo.kl_coef={args.kl}", f"rm.lr={args.rm_lr}",
        f"log.output_dir={out / f'{arm}_s{seed}'}"])
    tr = RLTrainer(cfg, overwrite=True)
    log = []
    kl = 0.0
    for step in range(args.steps + 1):
        if step % args.every == 0:
            row = {"arm": arm, "seed": seed, "step": step, "kl": kl} | measure(tr, step, seed)
            log.append(row)
            print(json.dumps(row), flush=True)
        if step < args.steps:
            m = tr.train_step()
            kl = m.get("actor/kl", 0.0)
    return log


def prepare(seed: int, out: Path, args) -> tuple[Path, Path, dict]:
    """SFT the policy (saved; a share ``--bang`` of its targets end in '!', so the hack is within reach of sampling
    and is wrong by gold), build gold pairs with the spurious feature, BT-train the proxy head (saved)."""
    from credo.sft.trainer import sft_examples, sft_train

    cfg = load_config(None, BASE + ARMS["frozen"] + [
        "sft.steps=300", f"train.seed={seed}", f"rm.seed={seed}", "train.steps=0", "model.init_seed=0",
        f"log.output_dir={out / f'prep_s{seed}'}"])
    cfg.sft.steps = 0
    tr = RLTrainer(cfg, overwrite=True)
    cfg.sft.steps = 300
    rng = random.Random(seed)
    rows = tr.train_rows[: cfg.sft.size]
    examples = [(p, a[:-1] + tr.tok("!", add_special_tokens=False)["input_ids"] + a[-1:]
                 if rng.random() < args.bang else a) for p, a in sft_examples(tr.tok, tr.task, rows, True)]
    sft_train(tr.model, tr.tok.pad_token_id, examples, cfg.sft, seed=seed)
    policy_dir = out / f"prep_s{seed}" / "sft_policy"
    tr.model.save_pretrained(policy_dir)
    tr.tok.save_pretrained(policy_dir)
    pairs = build_pairs(tr, args.pair_prompts, seed)
    write_pairs(out / f"prep_s{seed}" / "pairs.jsonl", pairs)
    from credo.rm import pair_accuracy, train_bradley_terry

    held = pairs[: len(pairs) // 5]
    stats = train_bradley_terry(tr.reward_model.rm, pairs[len(pairs) // 5:], 600, 1e-2, 64, seed)
    stats |= {"pairs": len(pairs), "heldout_acc": pair_accuracy(tr.reward_model.rm, held),
              "spurious_chosen": sum("!" in p.chosen for p in pairs) / len(pairs),
              "spurious_rejected": sum("!" in p.rejected for p in pairs) / len(pairs)}
    rm_dir = save_reward_model(out / f"prep_s{seed}" / "proxy_rm", tr.reward_model.rm)
    return policy_dir, rm_dir, stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--arms", nargs="+", default=["frozen"], choices=list(ARMS))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--kl", type=float, default=0.05)
    ap.add_argument("--rm-lr", type=float, default=1e-3)
    ap.add_argument("--pair-prompts", type=int, default=600, help="prompts (train rows, repeated) sampled for pairs")
    ap.add_argument("--bang", type=float, default=0.1, help="share of SFT targets that end in '!'")
    ap.add_argument("--out", type=Path, default=Path("experiments/r2m/results"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        t0 = time.time()
        done = args.out / f"prep_s{seed}.json"
        if done.is_file():  # SFT policy and proxy RM of this seed already built (deterministic per seed)
            policy_dir, rm_dir = args.out / f"prep_s{seed}" / "sft_policy", args.out / f"prep_s{seed}" / "proxy_rm"
        else:
            policy_dir, rm_dir, stats = prepare(seed, args.out, args)
            print(json.dumps({"seed": seed, "prep": stats, "s": time.time() - t0}), flush=True)
            done.write_text(json.dumps(stats))
        for arm in args.arms:
            t0 = time.time()
            log = run_arm(arm, seed, policy_dir, rm_dir, args.out, args)
            (args.out / f"{arm}_s{seed}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
            print(json.dumps({"arm": arm, "seed": seed, "s": time.time() - t0}), flush=True)


if __name__ == "__main__":
    main()
