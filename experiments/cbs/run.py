"""CBS decisive miniature (efficiency.md B.6): SFT warm start, calibration gate on full GRPO, label SNR, and the
mechanism measure (rank correlation of the scheduler's score with each rollout's true first-order gain).

Stages (each writes out/<stage>_seed<S>.json; run niced, one thread):
  sft   SFT the 0.87M embedded model until its sampled accuracy (200 x 8) is in [0.3, 0.5]; save that checkpoint.
  grpo  full GRPO (16 prompts x 8, 150 steps, lr 3e-4, warm-up 20) from the SFT checkpoint; sampled accuracy
        (500 x 8) and J_probe every 50 steps (gate parts 1 and 2); at steps 0 and 75 the half-batch probe (gate part
        3 and the label's signal-to-noise).
  cbs   CBS-intra (p = 50%, EE-Net, warm-up 5) with the paper's label from the same start; every 10 steps after
        warm-up, Spearman(score, g_i), Spearman(|A|, g_i), selection regret vs oracle and random, and AUROC of the
        score for true vs false positives.

g_i = A_i <grad J_probe, grad sum_t log pi(o_i,t)> (the first-order change of J_probe when descending rollout i's
token-mean GRPO loss, up to the common 1 / N_tokens), computed exactly by a central difference along grad J_probe on
a float64 copy. J_probe = mean over 256 fixed held-out probes of the teacher-forced p(gold chain + answer + EOS | x).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain4  # noqa: E402

from credo.config import SFTConfig, load_config  # noqa: E402
from credo.credit import compute_advantages  # noqa: E402
from credo.engines import ENGINES  # noqa: E402
from credo.experiment_utils import auroc, pearson, spearman  # noqa: E402
from credo.models.forward import response_logits, token_logprobs  # noqa: E402
from credo.sft.trainer import sft_examples, sft_train  # noqa: E402
from credo.tasks import encode_task_prompt  # noqa: E402
from credo.train.learner import Learner  # noqa: E402
from credo.train.rl import RLTrainer  # noqa: E402

OUT = HERE / "out"
N_PROBES = 256


def config(run_dir: Path, seed: int, extra: list[str]):
    cfg = load_config(None, [
        "task.kind=callable", "task.name=chain4:rows", "task.size=4000", "task.eval_size=756", "sampling.n=8",
        "sampling.max_new_tokens=24", "algo.advantage=grpo", "algo.loss_agg=token_mean", "train.prompts_per_step=16",
        "train.lr=3e-4", "train.warmup_steps=20", "train.betas=[0.9,0.99]", "train.threads=1", "train.steps=150",
        f"train.seed={seed}", "eval.every=0", "eval.size=8", "eval.pass_k=0", "log.tensorboard=false",
        "log.progress=false", "log.report=false", "sft.steps=0", f"log.output_dir={run_dir}", *extra])
    cfg.task.prompt_template, cfg.task.answer_marker = "{question}=", "="
    return cfg


def trainer_for(name: str, seed: int, extra: list[str]) -> RLTrainer:
    chain4.reseed(seed)
    model = ["model.path=" + str(OUT / "sft_model")] if (OUT / "sft_model").is_dir() else []
    return RLTrainer(config(OUT / "runs" / f"{name}_seed{seed}", seed, model + extra), overwrite=True)


def held_out(trainer) -> tuple[list[dict], list[dict]]:
    """(256 fixed probe rows, 500 accuracy rows), disjoint, from the held-out split."""
    rows = trainer.task.rows("eval")
    return rows[:N_PROBES], rows[N_PROBES: N_PROBES + 500]


@torch.no_grad()
def sampled_accuracy(trainer, rows: list[dict], k: int = 8, seed: int = 123) -> float:
    """True (noise-free) accuracy of k samples per row at temperature 1, under its own RNG."""
    engine, hits = trainer.engine, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(rows), 64):
            chunk = rows[i:i + 64]
            prompts = [encode_task_prompt(trainer.tok, trainer.task, r, trainer.cfg.model.chat_template) for r in chunk]
            trajs = engine.generate(prompts, k, trainer.cfg.sampling)
            hits += sum(chain4.correct(chunk[j // k], trainer.task.extract(chunk[j // k], t.response_text))
                        for j, t in enumerate(trajs))
    return hits / (len(rows) * k)


def probe_j(model, tok, task, probes: list[dict], grad: bool = False):
    """J_probe = mean teacher-forced p(gold response | prompt); with ``grad`` also {name: dJ/dparam}."""
    prompts = [torch.tensor(encode_task_prompt(tok, task, r, False)) for r in probes]
    targets = [torch.tensor(tok(task.target(r), add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
               for r in probes]
    model.zero_grad(set_to_none=True)
    with torch.set_grad_enabled(grad):
        logits, mask = response_logits(model, prompts, targets, tok.pad_token_id)
        toks = torch.nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=tok.pad_token_id)
        lp = (token_logprobs(logits, toks.to(logits.device)) * mask).sum(-1)
        j = lp.exp().mean()
        if not grad:
            return float(j)
        j.backward()
    g = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return float(j), g


@torch.no_grad()
def seq_logprob(model, tok, trajs) -> torch.Tensor:
    logits, mask = response_logits(model, [t.prompt_ids for t in trajs], [t.response_ids for t in trajs],
                                   tok.pad_token_id)
    toks = torch.nn.utils.rnn.pad_sequence([t.response_ids for t in trajs], batch_first=True,
                                           padding_value=tok.pad_token_id)
    return (token_logprobs(logits.double(), toks.to(logits.device)) * mask.double()).sum(-1)


def first_order_gains(model, tok, task, probes, trajs, eps: float = 1e-4) -> tuple[list[float], float]:
    """g_i = A_i <grad J, grad sum_t log pi(o_i)> by a float64 central difference along grad J; -> (g, J)."""
    j, g = probe_j(model, tok, task, probes, grad=True)
    norm = math.sqrt(sum(float((v.double() ** 2).sum()) for v in g.values()))
    if norm == 0:
        return [0.0] * len(trajs), j
    plus, minus = copy.deepcopy(model).double(), copy.deepcopy(model).double()
    with torch.no_grad():
        for (n, p), (_, q) in zip(plus.named_parameters(), minus.named_parameters()):
            if n in g:
                p.add_(eps * g[n].double() / norm)
                q.sub_(eps * g[n].double() / norm)
    d = (seq_logprob(plus, tok, trajs) - seq_logprob(minus, tok, trajs)) / (2 * eps) * norm
    return [float(t.advantage) * float(x) for t, x in zip(trajs, d)], j


# ---------------------------------------------------------------------------------------------------------- stages
class InBand(Exception):
    """Raised from the SFT log callback to stop at the first checkpoint whose accuracy is in the band."""


def stage_sft(seed: int, max_steps: int = 3000) -> dict:
    """One continuous SFT run (AdamW lr 3e-3, batch 32, 150-step warm-up then cosine over ``max_steps``); sampled
    accuracy (200 x 8) every 100 steps, every 25 once it reaches 0.2; stop at the first value in [0.3, 0.5]."""
    trainer = trainer_for("sft", seed, ["train.steps=0"])
    probes, acc_rows = held_out(trainer)
    examples = sft_examples(trainer.tok, trainer.task, trainer.task.rows("train"), False)
    log: list[dict] = []

    def measure(step: int, metrics: dict) -> None:
        every = 25 if log and log[-1]["sampled_acc_200x8"] >= 0.2 else 100
        if step % every:
            return
        acc = sampled_accuracy(trainer, acc_rows[:200])
        log.append({"sft_steps": step, "sampled_acc_200x8": acc, "loss": metrics.get("sft/loss")})
        print(log[-1], flush=True)
        if 0.3 <= acc <= 0.5:
            raise InBand
        if acc > 0.5:
            raise SystemExit(f"overshot the band at {step} steps (acc {acc:.3f})")

    try:
        sft_train(trainer.model, trainer.tok.pad_token_id, examples,
                  SFTConfig(steps=max_steps, batch_size=32, lr=3e-3), seed=seed, log=measure)
    except InBand:
        pass
    trainer.model.save_pretrained(OUT / "sft_model", safe_serialization=True)
    trainer.tok.save_pretrained(OUT / "sft_model")
    return {"log": log, "sft_steps": log[-1]["sft_steps"], "sampled_acc_500x8": sampled_accuracy(trainer, acc_rows),
            "J_probe": probe_j(trainer.model, trainer.tok, trainer.task, probes)}


def half_probe(trainer, probes, halves: int = 20) -> dict:
    """20 random half-batches of one fresh batch: actual ΔJ after one update vs summed g_i; two independent V draws
    (16 prompts x 8) after each update give the label's signal/noise. Leaves the run's random streams untouched."""
    cfg = trainer.cfg
    cursor, next_group, noise = trainer.cursor.state_dict(), trainer.next_group, chain4.NOISE.getstate()
    rng = random.Random(7)
    with torch.random.fork_rng(devices=[]):
        batch, _ = trainer.rollout()
        compute_advantages(batch, cfg.algo)
        g, j0 = first_order_gains(trainer.model, trainer.tok, trainer.task, probes, batch)
        rows = []
        for _ in range(halves):
            by_group: dict[int, list[int]] = {}
            for i, t in enumerate(batch):
                by_group.setdefault(t.group_id, []).append(i)
            idx = sorted(i for members in by_group.values() for i in rng.sample(members, len(members) // 2))
            model = copy.deepcopy(trainer.model)
            learner = Learner(model, trainer.tok.pad_token_id, cfg.algo, cfg.train, cfg.sampling)
            learner.load_state_dict(copy.deepcopy(trainer.learner.state_dict()))
            half = [batch[i] for i in idx]
            learner.attach_logprobs(half)
            learner.update(half)
            dj = probe_j(model, trainer.tok, trainer.task, probes) - j0
            engine = ENGINES.get("hf")(model, trainer.tok)
            vs = []
            for _ in range(2):
                vrows = [trainer.train_rows[rng.randrange(len(trainer.train_rows))] for _ in range(16)]
                prompts = [encode_task_prompt(trainer.tok, trainer.task, r, False) for r in vrows]
                trajs = engine.generate(prompts, 8, cfg.sampling)
                vs.append(sum(trainer.task.verify(vrows[k // 8], t.response_text).score
                              for k, t in enumerate(trajs)) / len(trajs))
            rows.append({"sum_g": sum(g[i] for i in idx), "dJ": dj, "Va": vs[0], "Vb": vs[1]})
    trainer.cursor.load_state_dict(cursor)
    trainer.next_group = next_group
    chain4.NOISE.setstate(noise)
    noise_var = sum((r["Va"] - r["Vb"]) ** 2 for r in rows) / (2 * len(rows))
    means = [(r["Va"] + r["Vb"]) / 2 for r in rows]
    mv = sum(means) / len(means)
    var_means = sum((m - mv) ** 2 for m in means) / (len(means) - 1)
    signal_var = max(0.0, var_means - noise_var / 2)
    return {"halves": rows, "J0": j0, "r_sum_g_vs_dJ": pearson([r["sum_g"] for r in rows], [r["dJ"] for r in rows]),
            "r_label_vs_dJ": pearson(means, [r["dJ"] for r in rows]), "label_noise_var": noise_var,
            "label_signal_var": signal_var, "label_snr": signal_var / noise_var if noise_var > 0 else float("nan")}


def stage_grpo(seed: int, extra: list[str]) -> dict:
    trainer = trainer_for("grpo", seed, extra)
    probes, acc_rows = held_out(trainer)
    curve, probes_at = [], {}
    t0 = time.time()
    for step in range(trainer.cfg.train.steps + 1):
        if step % 50 == 0:
            curve.append({"step": step, "sampled_acc": sampled_accuracy(trainer, acc_rows),
                          "J_probe": probe_j(trainer.model, trainer.tok, trainer.task, probes)})
            print(curve[-1], f"{time.time() - t0:.0f}s", flush=True)
        if step in (0, 75):
            probes_at[step] = half_probe(trainer, probes)
            print(step, {k: v for k, v in probes_at[step].items() if k != "halves"}, flush=True)
        if step < trainer.cfg.train.steps:
            trainer.train_step()
    gain = curve[-1]["sampled_acc"] - curve[0]["sampled_acc"]
    return {"curve": curve, "gain": gain, "spearman_J_vs_acc": spearman([c["J_probe"] for c in curve],
                                                                         [c["sampled_acc"] for c in curve]),
            "half_probe": probes_at, "seconds": time.time() - t0}


ARMS = {"cbs": ["algo.scheduler=cbs"], "exact": ["algo.scheduler=cbs"], "random": ["algo.scheduler=random"],
        "max_abs_adv": ["algo.scheduler=max_abs_adv"], "oracle": ["algo.scheduler=random"]}


def stage_cbs(seed: int, extra: list[str], arm: str = "cbs") -> dict:
    """Intra-group 50% selection from the SFT start; ``arm`` picks the scores: ``cbs`` (the paper's label), ``exact``
    (CBS with the label replaced by the exact ΔJ_probe of the step its selection trained), ``random``,
    ``max_abs_adv``, ``oracle`` (the top half of each group by the true first-order gain g_i, every step)."""
    trainer = trainer_for(arm, seed, [*ARMS[arm], "cbs.mode=intra", "cbs.keep_frac=0.5",
                                       "cbs.warmup_rounds=5", *extra])
    probes, acc_rows = held_out(trainer)
    sel, select = trainer.selector, trainer.selector.select
    mech, exact_labels = [], []
    j_prev: list[float] = []

    if arm == "exact":  # the label of the selection at t − 1: J_probe(θ_t) − J_probe(θ_{t−1}), no entropy term
        observe = sel.scheduler.observe

        def observe_exact(x, gain, gen):
            exact_labels.append({"paper_label": gain, "exact_label": j_prev[-1] - j_prev[-2]})
            return observe(x, j_prev[-1] - j_prev[-2], gen)
        sel.scheduler.observe = observe_exact
    if arm == "oracle":
        def score_oracle(x, entries, gen):
            g, _ = first_order_gains(trainer.model, trainer.tok, trainer.task, probes, [e.traj for e in entries])
            return torch.tensor(g, dtype=torch.float64, device="cpu"), None, None
        sel.scheduler.score = score_oracle

    def select_and_measure(fresh, step, learner):
        if arm == "exact":
            j_prev.append(probe_j(trainer.model, trainer.tok, trainer.task, probes))
        out = select(fresh, step, learner)
        last = sel.last
        if not last["warmup"] and step % 10 == 0 and step >= 10:
            entries, scores, chosen = last["entries"], last["scores"].tolist(), set(last["chosen"].tolist())
            trajs = [e.traj for e in entries]
            g, _ = first_order_gains(trainer.model, trainer.tok, trainer.task, probes, trajs)
            absadv = [abs(float(t.advantage)) for t in trajs]
            groups: dict[int, list[int]] = {}
            for i, t in enumerate(trajs):
                groups.setdefault(t.group_id, []).append(i)
            within = [spearman([scores[i] for i in m], [g[i] for i in m]) for m in groups.values()]
            within = [w for w in within if w == w]
            oracle = sum(sum(sorted((g[i] for i in m), reverse=True)[: len(m) // 2]) for m in groups.values())
            fp = [scores[i] for i, t in enumerate(trajs) if t.reward >= 1 and t.info["verdict"]["fp"]]
            tp = [scores[i] for i, t in enumerate(trajs) if t.reward >= 1 and not t.info["verdict"]["fp"]]
            mech.append({"step": step, "spearman_score_g": spearman(scores, g),
                         "spearman_absadv_g": spearman(absadv, g),
                         "within_group_spearman_score_g": sum(within) / len(within) if within else float("nan"),
                         "sum_g_chosen": sum(g[i] for i in chosen), "sum_g_oracle": oracle,
                         "sum_g_random_expected": 0.5 * sum(g), "auroc_tp_vs_fp": auroc(tp, fp),
                         "n_fp": len(fp), "n_tp": len(tp)})
            print(mech[-1], flush=True)
        return out

    sel.select = select_and_measure
    t0 = time.time()
    acc0 = sampled_accuracy(trainer, acc_rows)
    metrics = []
    for _ in range(trainer.cfg.train.steps):
        m = trainer.train_step()
        metrics.append({k: v for k, v in m.items() if k.startswith("cbs/") and "chosen_frac" not in k})
    return {"arm": arm, "sampled_acc_start": acc0, "sampled_acc_end": sampled_accuracy(trainer, acc_rows),
            "mechanism": mech, "cbs_metrics": metrics, "exact_labels": exact_labels, "seconds": time.time() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["sft", "grpo", "cbs"])
    ap.add_argument("--arm", choices=list(ARMS), default="cbs", help="cbs stage: which scores select the half")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--tag", default="")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(exist_ok=True)
    extra = [f"train.steps={a.steps}", *a.overrides]
    if a.stage == "sft":
        res = stage_sft(a.seed)
    elif a.stage == "grpo":
        res = stage_grpo(a.seed, extra)
    else:
        res = stage_cbs(a.seed, extra, a.arm)
    res["args"] = vars(a)
    name = a.stage if a.stage != "cbs" or a.arm == "cbs" else a.arm
    path = OUT / f"{name}{a.tag}_seed{a.seed}.json"
    path.write_text(json.dumps(res, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
