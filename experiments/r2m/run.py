"""R2M decisive miniature (rewards-retrieval.md C.8) on a synthetic character corpus; design in results.md.

Per seed (shared by all arms of the seed): pretrain a 0.87M policy and a second 0.87M LM (the RM trunk, frozen) on
the seed's Markov corpus (r2m_toy.py); sample a pool from the policy; select 2k gold pairs (chosen = higher gold) in
which the '!' count correlates ~0.5 with gold; BT-train the proxy head on them; check its accuracy on natural
(unselected) gold pairs of the initial policy. Then RLOO + KL with the proxy as reward, one run per arm. Every
``--every`` steps, on 64 held-out prompts x 8 samples of the current policy: gold, proxy, '!' rate, within-group
proxy std, sequence KL to the reference, and RM accuracy on 256 natural gold pairs (current RM, current policy states).

    python experiments/r2m/run.py prep --seeds 0
    python experiments/r2m/run.py arm --seeds 0 --arms frozen --lr 3e-4 --kl 0.05 --tag cal_lr3e-4
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import r2m_toy  # noqa: E402

from credo.config import load_config  # noqa: E402
from credo.rewards.pairs import Pair, write_pairs  # noqa: E402
from credo.tasks import encode_task_prompt  # noqa: E402
from credo.train.rl import RLTrainer  # noqa: E402

ARMS = {
    "frozen": ["rm.fusion=none", "rm.update=none"],
    "head": ["rm.fusion=none", "rm.update=grebt"],
    "r2m": ["rm.fusion=policy", "rm.update=grebt"],
    "r2m_self": ["rm.fusion=self", "rm.update=grebt"],
    "r2m_noise": ["rm.fusion=noise", "rm.update=grebt"],
    "gold_refresh": ["rm.fusion=none", "rm.update=none"],  # + head re-fit on 64 gold pairs every 25 steps (below)
}


def base(seed: int) -> list[str]:
    return ["task.kind=callable", "task.name=r2m_toy:rows", "task.kwargs={corpus_seed: 0}", "task.size=512",
            "task.eval_size=64", "task.prompt_template='{question}'", "task.answer_marker=",
            "model.chat_template=false", "sampling.n=8", "sampling.max_new_tokens=24", "sampling.temperature=1.0",
            "sampling.stop=[]", "algo.advantage=rloo", "train.prompts_per_step=16", "train.threads=1", "eval.every=0",
            "eval.size=16", "eval.pass_k=0", "log.tensorboard=false", "log.progress=false", "log.report=false",
            "rm.d=64", "rm.omega_floor=0.6", "rm.alpha=0.3", f"train.seed={seed}", f"rm.seed={seed}"]


def sample(tr: RLTrainer, rows: list[dict], n: int, seed: int):
    """n samples per row from the current policy under a private RNG; -> trajectories (group_id = row index)."""
    prompts = [encode_task_prompt(tr.tok, tr.task, r, False) for r in rows]
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(rows), 16):
            trajs = tr.engine.generate(prompts[i:i + 16], n, tr.cfg.sampling)
            for j, t in enumerate(trajs):
                t.group_id, t.prompt_text = i + j // n, rows[i + j // n]["question"]
            out += trajs
    return out


def natural_pairs(trajs, n: int, per_group: int, seed: int) -> list[tuple[int, int]]:
    """Up to ``per_group`` (chosen, rejected) index pairs per group with different gold, chosen = higher gold."""
    rng = random.Random(seed)
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(trajs):
        groups.setdefault(t.group_id, []).append(i)
    out = []
    for idx in groups.values():
        cand = [(a, b) for a in idx for b in idx if r2m_toy.gold(trajs[a].response_text) >
                r2m_toy.gold(trajs[b].response_text)]
        out += rng.sample(cand, min(per_group, len(cand)))
    return out[:n]


def biased_pairs(trajs, n: int, target: float, seed: int,
                 max_a: int | None = None) -> tuple[list[tuple[int, int]], dict]:
    """``n`` gold pairs (chosen = higher gold, same prompt) kept with probability sigmoid(k * d'!'), k the first of a
    fixed ladder whose kept set has corr(d'!', d gold) (random orientation) >= ``target``. With ``max_a``, only
    responses with at most ``max_a`` 'a's enter pairs (design v5: the proxy never sees gold's knee)."""
    rng = random.Random(seed)
    cand = []
    ok = [max_a is None or t.response_text[:r2m_toy.RESPONSE_LEN].count("a") <= max_a for t in trajs]
    for a in range(len(trajs)):
        for b in range(len(trajs)):
            if trajs[a].group_id == trajs[b].group_id and ok[a] and ok[b]:
                ga, gb = r2m_toy.gold(trajs[a].response_text), r2m_toy.gold(trajs[b].response_text)
                if ga > gb:
                    cand.append((a, b, ga - gb, r2m_toy.bangs(trajs[a].response_text)
                                 - r2m_toy.bangs(trajs[b].response_text)))

    def corr(sel):
        sxy = sum(dg * db for *_, dg, db in sel)
        sxx, syy = sum(db * db for *_, db in sel), sum(dg * dg for *_, dg, _ in sel)
        return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0

    for k in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 30.0):
        kept = [c for c in cand if rng.random() < 1 / (1 + math.exp(-k * c[3]))]
        if corr(kept) >= target or k == 30.0:
            break
    chosen = rng.sample(kept, min(n, len(kept)))
    return [(a, b) for a, b, *_ in chosen], {"k": k, "corr": corr(chosen), "candidates": len(cand),
                                             "kept": len(kept), "natural_corr": corr(cand)}


def to_pairs(trajs, idx) -> list[Pair]:
    return [Pair(trajs[a].prompt_text, trajs[a].response_text, trajs[b].response_text, "gold") for a, b in idx]


def pretrain(model, tok, seed: int, offset: int, steps: int) -> float:
    """LM pretraining on the seed's corpus: continuation (24 chars + EOS) given the 16-char prefix."""
    from credo.config import SFTConfig
    from credo.sft.trainer import sft_train

    rows = list(r2m_toy.rows("pretrain", 8000, seed, corpus_seed=0, offset=offset))
    ex = [(tok(r["question"])["input_ids"], tok(r["answer"], add_special_tokens=False)["input_ids"]
           + [tok.eos_token_id]) for r in rows]
    m = sft_train(model, tok.pad_token_id, ex, SFTConfig(steps=steps, batch_size=64, lr=3e-3), seed=seed + offset)
    return m.get("sft/loss_last", m.get("sft/final_loss", float("nan")))


def prepare(seed: int, out: Path, args) -> dict:
    from credo.models import load_policy

    d = out / f"prep_s{seed}"
    shared = out / f"prep_s{args.models_from}"
    if seed != args.models_from:  # the pretrained policy and RM trunk of seed ``--models-from`` (CPU budget)
        d.mkdir(parents=True, exist_ok=True)
        for name in ("policy", "rm_trunk"):
            if not (d / name).exists():
                (d / name).symlink_to((shared / name).resolve())
    pretrained = (d / "policy").exists() and (d / "rm_trunk").exists()  # already there: reuse, do not pretrain
    model = [f"model.path={d / 'policy'}"] if pretrained else [f"model.init_seed={seed}"]
    cfg = load_config(None, base(seed) + ARMS["frozen"] + model + [
        "sft.steps=0", "train.steps=0", f"log.output_dir={d / 'trainer'}"])
    tr = RLTrainer(cfg, overwrite=True)
    stats = {"models_from": args.models_from, "gold_knee": r2m_toy.KNEE, "knee_cost": r2m_toy.KNEE_COST,
             "bang_cost": r2m_toy.BANG_COST}
    if not pretrained:
        stats["policy_pretrain"] = pretrain(tr.model, tr.tok, seed, 0, args.pretrain_steps)
        tr.model.save_pretrained(d / "policy")
        tr.tok.save_pretrained(d / "policy")
        rcfg = load_config(None, base(seed) + [f"model.init_seed={100 + seed}"])
        trunk, rtok, _ = load_policy(rcfg.model, "cpu")
        stats["rm_trunk_pretrain"] = pretrain(trunk, rtok, seed, 1, args.pretrain_steps)
        trunk.save_pretrained(d / "rm_trunk")
        rtok.save_pretrained(d / "rm_trunk")
    else:
        rcfg = load_config(None, base(seed) + [f"model.path={d / 'rm_trunk'}"])
        trunk, rtok, _ = load_policy(rcfg.model, "cpu")
    trunk.eval().requires_grad_(False)
    # pool of initial-policy samples on pool prompts (not the RL or measurement prompts)
    pool_rows = list(r2m_toy.rows("pool", args.pool_prompts, seed, corpus_seed=0, offset=2))
    pool = sample(tr, pool_rows, 8, seed + 7)
    idx, sel = biased_pairs(pool, args.pairs, args.corr, seed, args.pairs_max_a)
    sel["pool_above_knee"] = sum(t.response_text[:24].count("a") > (r2m_toy.KNEE or 24) for t in pool) / len(pool)
    pairs = to_pairs(pool, idx)
    write_pairs(d / "pairs.jsonl", pairs)
    return stats | {"selection": sel} | fit_proxy(tr, trunk, rtok, pairs, d, seed, args)


def fit_proxy(tr: RLTrainer, trunk, rtok, pairs: list[Pair], d: Path, seed: int, args) -> dict:
    """BT-train the proxy (head; with ``--train-trunk`` also the trunk, frozen afterwards) on ``pairs`` (10% held
    out), measure it on 256 natural gold pairs of the initial policy (the measurement prompts, as RL's step 0) and
    on '!' probes; save it to ``d/proxy_rm``."""
    from credo.rm import RewardModel, pair_accuracy, save_reward_model, train_bradley_terry

    held = len(pairs) // 10
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rm = RewardModel(trunk, rtok)
    stats = count_trunk(rm, seed, args.count_trunk) if args.count_trunk else {}
    stats |= train_bradley_terry(rm, pairs[held:], args.bt_steps, args.bt_lr, 64, seed, train_trunk=args.train_trunk)
    meas = sample(tr, tr.eval_rows, 8, seed * 1000)
    nat = to_pairs(meas, natural_pairs(meas, 256, 4, seed))
    bang_pairs = [Pair(p.prompt, p.chosen, p.chosen[:-1] + "!", "bang") for p in nat]  # last char -> '!'
    a_pairs = [Pair(p.prompt, p.chosen, p.chosen[:-1] + "a", "a") for p in nat if p.chosen[-1] != "a"]
    stats |= {"pairs": len(pairs), "train_trunk": args.train_trunk, "bt_lr": args.bt_lr,
              "heldout_biased_acc": pair_accuracy(rm, pairs[:held]), "natural_acc": pair_accuracy(rm, nat),
              "natural_pairs": len(nat), "prefers_bang": 1 - pair_accuracy(rm, bang_pairs),
              "prefers_a": 1 - pair_accuracy(rm, a_pairs),
              "gold_sd0": float(torch.tensor([r2m_toy.gold(t.response_text) for t in meas]).std()),
              "bang_rate0": sum(r2m_toy.bangs(t.response_text) for t in meas) / (24 * len(meas))}
    save_reward_model(d / "proxy_rm", rm, with_trunk=args.train_trunk or bool(args.count_trunk))
    return stats


COUNTED = r2m_toy.LETTERS + "!"


def count_texts(n: int, rng: random.Random) -> tuple[list[str], torch.Tensor]:
    """``n`` prompt + response texts for the count trunk -> (texts, counts [n, 10] / 24 of each character of
    :data:`COUNTED` in the response). A quarter are corpus continuations as they are; in the rest one character,
    drawn uniformly from all ten, overwrites each response position with probability r ~ U(0, 0.7), so that every
    character's count spans 0 to ~20 (the reader is generic: no character is favoured)."""
    rows = list(r2m_toy.rows("counts", n, rng.randrange(1 << 30), corpus_seed=0, offset=3))
    texts = []
    for r in rows:
        resp = list(r["answer"])
        if rng.random() >= 0.25:
            c, rate = rng.choice(COUNTED), rng.uniform(0.0, 0.7)
            resp = [c if rng.random() < rate else x for x in resp]
        texts.append(r["question"] + "".join(resp))
    counts = torch.tensor([[t[r2m_toy.PROMPT_LEN:].count(c) for c in COUNTED] for t in texts]) / r2m_toy.RESPONSE_LEN
    return texts, counts


def count_trunk(rm, seed: int, steps: int, batch: int = 64, lr: float = 1e-3) -> dict:
    """Design v6: train the RM trunk (all weights) with a linear probe to regress the response's character counts
    from the last token's state (MSE), then freeze it; the probe is discarded. The BT head trained afterwards on the
    frozen trunk is then (near) linear in the counts: a proxy that keeps paying for what it learned to pay for.
    -> R² of a fresh least-squares probe on 1,024 held-out texts, overall and per character."""
    rng = random.Random(f"count-trunk-{seed}")
    probe = torch.nn.Linear(rm.trunk.config.hidden_size, len(COUNTED)).to(rm.device)
    rm.trunk.train().requires_grad_(True)
    opt = torch.optim.AdamW(list(rm.trunk.parameters()) + list(probe.parameters()), lr=lr)
    for _ in range(steps):
        texts, y = count_texts(batch, rng)
        h, _ = rm.trunk_states(texts, grad=True)
        loss = torch.nn.functional.mse_loss(probe(h), y.to(h.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    rm.trunk.eval().requires_grad_(False)
    fit_t, fit_y = count_texts(2048, rng)
    test_t, test_y = count_texts(1024, rng)
    x_fit, x_test = (torch.cat([rm.trunk_states(t)[0].cpu(), torch.ones(len(t), 1)], 1) for t in (fit_t, test_t))
    w = torch.linalg.lstsq(x_fit, fit_y).solution
    res = ((x_test @ w - test_y) ** 2).sum(0) / ((test_y - test_y.mean(0)) ** 2).sum(0)
    return {"count_trunk_steps": steps, "count_trunk_loss": float(loss.detach()), "count_r2": float(1 - res.mean()),
            "count_r2_per_char": {c: round(float(1 - v), 4) for c, v in zip(COUNTED, res)}}


def refit(seed: int, out: Path, args) -> dict:
    """Fit the proxy again on the seed's saved pairs (same policy, trunk and pairs)."""
    from credo.models import load_policy
    from credo.rewards.pairs import read_pairs

    d = out / f"prep_s{seed}"
    cfg = load_config(None, base(seed) + ARMS["frozen"] + [
        f"model.path={d / 'policy'}", "sft.steps=0", "train.steps=0", f"log.output_dir={d / 'trainer'}"])
    tr = RLTrainer(cfg, overwrite=True)
    trunk, rtok, _ = load_policy(load_config(None, base(seed) + [f"model.path={d / 'rm_trunk'}"]).model, "cpu")
    trunk.eval().requires_grad_(False)
    return fit_proxy(tr, trunk, rtok, read_pairs(d / "pairs.jsonl"), d, seed, args)


@torch.no_grad()
def measure(tr: RLTrainer, step: int, seed: int) -> dict[str, float]:
    rm = tr.reward_model
    noise_state = rm.noise.get_state()
    trajs = sample(tr, tr.eval_rows, 8, seed * 1000 + step)
    rm.score(trajs, step)
    rm.pop_metrics()
    rm.noise.set_state(noise_state)
    ref = tr.learner.reference_logprobs(trajs).cpu()
    kl = [float((t.logprobs.float().cpu() - ref[i, : t.num_tokens]).sum()) for i, t in enumerate(trajs)]
    gold = [r2m_toy.gold(t.response_text) for t in trajs]
    idx = natural_pairs(trajs, 256, 4, seed * 1000 + step)
    stds = []
    for g in range(len(tr.eval_rows)):
        r = torch.tensor([t.reward for t in trajs[8 * g: 8 * g + 8]])
        stds.append(float(r.std()))
    return {"gold": sum(gold) / len(gold), "proxy": sum(t.reward for t in trajs) / len(trajs),
            "bang": sum(r2m_toy.bangs(t.response_text) for t in trajs) / (24 * len(trajs)),
            "a_rate": sum(t.response_text[:24].count("a") for t in trajs) / (24 * len(trajs)),
            "seq_kl": sum(kl) / len(kl), "group_std": sum(stds) / len(stds),
            "rm_acc": sum(trajs[a].reward > trajs[b].reward for a, b in idx) / len(idx) if idx else float("nan"),
            "rm_pairs": float(len(idx))}


def refresh_head(tr: RLTrainer, step: int, seed: int) -> None:
    """gold-refresh arm: fine-tune the head on 64 natural gold pairs of the current policy (training prompts)."""
    from credo.rm import train_bradley_terry

    rows = [tr.train_rows[i] for i in random.Random(seed * 7 + step).sample(range(len(tr.train_rows)), 32)]
    trajs = sample(tr, rows, 8, seed * 3000 + step)
    pairs = to_pairs(trajs, natural_pairs(trajs, 64, 2, seed + step))
    if pairs:
        train_bradley_terry(tr.reward_model.rm, pairs, 50, 1e-2, 64, seed + step)


def run_arm(arm: str, seed: int, out: Path, args) -> list[dict]:
    d = out / f"prep_s{seed}"
    tag = f"{args.tag}_" if args.tag else ""
    cfg = load_config(None, base(seed) + ARMS[arm] + [
        f"model.path={d / 'policy'}", "sft.steps=0", "rm.enabled=true", f"rm.model={{path: {d / 'rm_trunk'}}}",
        f"rm.load={d / 'proxy_rm'}", f"train.steps={args.steps}", f"train.lr={args.lr}", f"algo.kl_coef={args.kl}",
        f"rm.lr={args.rm_lr}", f"log.output_dir={out / 'runs' / f'{tag}{arm}_s{seed}'}"])
    tr = RLTrainer(cfg, overwrite=True)
    log_path = out / f"{tag}{arm}_s{seed}.jsonl"
    log_path.write_text("")
    log, kls = [], []
    for step in range(args.steps + 1):
        if step % args.every == 0:
            row = {"arm": arm, "seed": seed, "step": step, "lr": args.lr, "beta": args.kl, "gold_knee": r2m_toy.KNEE,
                   "knee_cost": r2m_toy.KNEE_COST, "bang_cost": r2m_toy.BANG_COST,
                   "train_kl": sum(kls) / len(kls) if kls else 0.0, "t": time.time()} | measure(tr, step, seed)
            kls = []
            log.append(row)
            with log_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
            if args.abort_late and step >= 170:
                sm = smooth([r["gold"] for r in log])
                if max(range(len(sm)), key=sm.__getitem__) * args.every > 150:
                    print(json.dumps({"abort": "gold peak after step 150", "step": step}), flush=True)
                    break
        if step < args.steps:
            if arm == "gold_refresh" and step > 0 and step % 25 == 0:
                refresh_head(tr, step, seed)
            m = tr.train_step()
            kls.append(m.get("actor/kl", 0.0))
    return log


def smooth(xs: list[float]) -> list[float]:
    """3-point moving average (ends: 2 points)."""
    return [sum(xs[max(0, i - 1): i + 2]) / len(xs[max(0, i - 1): i + 2]) for i in range(len(xs))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["prep", "refit", "arm"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--arms", nargs="+", default=["frozen"], choices=list(ARMS))
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--kl", type=float, default=0.05)
    ap.add_argument("--rm-lr", type=float, default=1e-3)
    ap.add_argument("--tag", default="")
    ap.add_argument("--abort-late", action="store_true", help="stop once the gold peak is certainly after step 150")
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--models-from", type=int, default=0, help="seed whose pretrained policy and RM trunk all use")
    ap.add_argument("--pool-prompts", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--corr", type=float, default=0.5)
    ap.add_argument("--bt-steps", type=int, default=600)
    ap.add_argument("--bt-lr", type=float, default=1e-2)
    ap.add_argument("--train-trunk", action="store_true", help="BT-train the RM trunk too (frozen during RL)")
    ap.add_argument("--count-trunk", type=int, default=0,
                    help="design v6: train the trunk this many steps to expose response character counts, then "
                         "freeze it and BT-train the head alone")
    ap.add_argument("--gold-knee", type=int, default=None,
                    help="design v3: gold peaks at this many 'a's and falls past it (default: v2's linear gold)")
    ap.add_argument("--knee-cost", type=int, default=2, help="gold lost per 'a' beyond the knee (v3: 2, v4: 4)")
    ap.add_argument("--bang-cost", type=int, default=1, help="gold lost per '!' (v8: 0)")
    ap.add_argument("--pairs-max-a", type=int, default=None,
                    help="design v5: only responses with at most this many 'a's enter the proxy's pairs")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    r2m_toy.KNEE, r2m_toy.KNEE_COST, r2m_toy.BANG_COST = args.gold_knee, args.knee_cost, args.bang_cost
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        t0 = time.time()
        if args.what in ("prep", "refit"):
            stats = (prepare if args.what == "prep" else refit)(seed, args.out, args) | {"s": time.time() - t0}
            print(json.dumps({"seed": seed, "prep": stats}), flush=True)
            (args.out / f"prep_s{seed}.json").write_text(json.dumps(stats, indent=1))
            continue
        for arm in args.arms:
            t0 = time.time()
            run_arm(arm, seed, args.out, args)
            print(json.dumps({"arm": arm, "seed": seed, "s": time.time() - t0}), flush=True)


if __name__ == "__main__":
    main()
