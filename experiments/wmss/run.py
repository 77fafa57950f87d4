"""WMSS decisive miniature (methods/efficiency.md A.6): 3+3-digit addition, answer only, embedded h192/4 (1.9M).

Per seed: SFT to the held-out exact-match (EM) plateau (M1); M0 = the same run's snapshot nearest ½ the plateau EM;
then 7 arms of ``--steps`` extra steps from M1, sharing the prompt stream and random numbers:
  a continued SFT · b temperature control CE(λ·z_s) · c mixing, frozen M0 · d mixing, trainable M0 ·
  e WD-DS only · f full WMSS (WD-DS + mixing, trainable M0) · g permuted weak (M0's non-target logits shuffled).
Greedy EM equals "every teacher-forced argmax is the target" for answer-only items, so EM is computed teacher-forced.
The calibration gate (A.6) runs on M1 and arm a first; a failed gate stops the seed (``--force`` runs the arms).

    nice -n 10 python experiments/wmss/run.py --seed 0 [--arms abcdefg] [--gate-only]
Writes experiments/wmss/results/seed<S>.json (updated after every arm); M0/M1 weights under runs/wmss/.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import get_cosine_schedule_with_warmup

from credo.config import ModelConfig
from credo.models import load_policy
from credo.sft.trainer import IGNORE, padded_batch
from credo.sft.wmss import answer_positions, mix_logits, sample_entropy, wdds_resample, wdds_weights

HERE = Path(__file__).parent
LR, BATCH, LAM, EVAL_EVERY, PATIENCE, MAX_SFT, MIN_SFT = 1e-3, 64, 0.5, 250, 4, 10000, 1500
ARMS = {"a": "continued SFT", "b": "temperature CE(lam*z_s)", "c": "mixing, frozen M0", "d": "mixing, trainable M0",
        "e": "WD-DS only", "f": "full WMSS (WD-DS + trainable M0)", "g": "permuted weak (frozen)"}


def model_cfg(seed: int) -> ModelConfig:
    return ModelConfig(hidden_size=192, num_layers=4, num_heads=4, intermediate_size=576, init_seed=seed,
                       cache_dir=str(Path("runs/wmss/cache").resolve()))


def make_data(tok, seed: int, n_train: int = 4000) -> tuple[list, list]:
    """``n_train`` training and 2,000 held-out distinct a+b items (a, b in 100..999): (prompt ids, answer ids + EOS).
    The held-out items do not depend on ``n_train`` (training items are the first ``n_train`` of 4,000)."""
    rng, pairs = random.Random(1000 + seed), set()
    while len(pairs) < 6000:
        pairs.add((rng.randint(100, 999), rng.randint(100, 999)))
    items = sorted(pairs)
    rng.shuffle(items)
    ex = [(tok(f"{a}+{b}=")["input_ids"], tok(str(a + b), add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
          for a, b in items]
    return ex[:n_train], ex[4000:]


@torch.no_grad()
def answer_logits(model, examples, pad_id, bs: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced next-token logits at answer positions: z [T, V], target [T], example index [T]."""
    model.eval()
    zs, ys, rows = [], [], []
    for s in range(0, len(examples), bs):
        b = padded_batch(examples[s:s + bs], pad_id)
        z, y = answer_positions(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits,
                                b["labels"])
        keep = b["labels"][:, 1:] != IGNORE
        zs.append(z.float())
        ys.append(y)
        rows.append(keep.nonzero()[:, 0] + s)
    model.train()
    return torch.cat(zs), torch.cat(ys), torch.cat(rows)


def exact_match(z, y, rows, n) -> torch.Tensor:
    """[n] bool: every answer token of the example is the argmax."""
    wrong = torch.zeros(n, dtype=torch.long).index_add_(0, rows, (z.argmax(-1) != y).long())
    return wrong == 0


def top_negatives(z, y, k: int) -> torch.Tensor:
    """[T, k] the k highest non-target tokens of z."""
    return z.scatter(-1, y[:, None], float("-inf")).topk(k, -1).indices


def lr_at(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / warmup)


def batches(n: int, seed: int):
    """Endless stream of index lists of size BATCH: per-epoch permutations from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while True:
        while len(order) < BATCH:
            order += torch.randperm(n, generator=g).tolist()
        yield order[:BATCH]
        del order[:BATCH]


def sft_plateau(seed: int, train, held, pad_id, max_steps: int = MAX_SFT, m0_rule: str = "nearest",
                cosine: int = 0):
    """SFT at constant LR until held-out EM has not risen by 0.01 for PATIENCE evaluations (250-step evaluations)
    -> (M1 state, M0 state, curve [(step, EM)], chosen M0 step, M0 candidates [(step, EM)]). With ``cosine`` = S,
    instead exactly S steps of cosine decay to 0 after the warm-up, no early stop: M1 is the model at step S.
    M0 rule "nearest": the 250-step snapshot nearest ½ × plateau EM (A.6); "first": the first snapshot with EM ≥
    ½ × plateau EM on a finer grid (every 50 steps up to step 1,000, then every 250; revised design)."""
    model, _, _ = load_policy(model_cfg(seed))
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    if cosine:
        sched, max_steps = get_cosine_schedule_with_warmup(opt, 100, cosine), cosine
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, 100))
    stream, curve, candidates, snaps = batches(len(train), seed), [], [], {}
    for step in range(1, max_steps + 1):
        b = padded_batch([train[i] for i in next(stream)], pad_id)
        z, y = answer_positions(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits,
                                b["labels"])
        F.cross_entropy(z.float(), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        fine = m0_rule == "first" and step <= 1000 and step % 50 == 0
        if step % EVAL_EVERY == 0 or fine:
            em = float(exact_match(*answer_logits(model, held, pad_id), len(held)).float().mean())
            candidates.append((step, em))
            snaps[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            print(f"sft step {step} held-out EM {em:.4f}", flush=True)
        if step % EVAL_EVERY == 0:
            curve.append((step, em))
            ems = [e for _, e in curve]
            if (not cosine and step >= MIN_SFT and len(ems) > PATIENCE
                    and max(ems[-PATIENCE:]) < max(ems[:-PATIENCE]) + 0.01):
                break
    plateau = curve[-1][1]
    if m0_rule == "first":
        m0_step = next(c for c in candidates if c[1] >= plateau / 2)[0]
    else:
        m0_step = min(curve, key=lambda c: (abs(c[1] - plateau / 2), c[0]))[0]
    return snaps[curve[-1][0]], snaps[m0_step], curve, m0_step, candidates


def permute_nontarget(z: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shuffle each row's non-target logits (same entropy, wrong negatives); the target logit stays."""
    n, v = z.shape
    keep = torch.ones(n, v, dtype=torch.bool).scatter_(1, y[:, None].cpu(), False).to(z.device)
    vals = z[keep].view(n, v - 1)
    perm = torch.rand(n, v - 1, generator=g).argsort(-1).to(z.device)
    out = z.clone()
    out[keep] = vals.gather(1, perm).reshape(-1)
    return out


def run_arm(arm: str, seed: int, m1, m0, train, held, pad_id, resample_idx, steps: int, lr: float = LR) -> dict:
    strong, _, _ = load_policy(model_cfg(seed))
    strong.load_state_dict(m1)
    weak, _, _ = load_policy(model_cfg(seed))
    weak.load_state_dict(m0)
    ref, _, _ = load_policy(model_cfg(seed))  # the original M0, for the mechanism measures only
    ref.load_state_dict(m0)
    ref.eval().requires_grad_(False)
    trainable_weak = arm in "df"
    weak.train(trainable_weak)
    weak.requires_grad_(trainable_weak)
    params = list(strong.parameters()) + (list(weak.parameters()) if trainable_weak else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, 50))
    idx = resample_idx if arm in "ef" else list(range(len(train)))
    stream, g_perm = batches(len(idx), 10_000 + seed), torch.Generator().manual_seed(20_000 + seed)
    torch.manual_seed(30_000 + seed)
    log, share, t0 = [], [], time.perf_counter()
    for step in range(1, steps + 1):
        b = padded_batch([train[idx[i]] for i in next(stream)], pad_id)
        inputs = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}
        z_s, y = answer_positions(strong(**inputs).logits, b["labels"])
        z_s = z_s.float()
        if arm in "cdfg":
            with torch.set_grad_enabled(trainable_weak):
                z_w, _ = answer_positions(weak(**inputs).logits, b["labels"])
            if arm == "g":
                z_w = permute_nontarget(z_w.float(), y, g_perm)
            z, scale = mix_logits(z_w, z_s, LAM), LAM
        elif arm == "b":
            z, scale = LAM * z_s, LAM
        else:
            z, scale = z_s, 1.0
        loss = F.cross_entropy(z, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        p = torch.softmax(z.detach(), -1)
        py = p.gather(-1, y[:, None]).squeeze(-1)
        if step % 10 == 0:  # share of the non-target gradient on the original M0's top-2 negatives
            with torch.no_grad():
                z_ref, _ = answer_positions(ref(**inputs).logits, b["labels"])
            top2 = top_negatives(z_ref.float(), y, 2)
            # p_grad restricted to the non-targets, from logits: 1 − p(y) underflows once p(y) ≈ 1 in float32
            rest = torch.softmax(z.detach().scatter(-1, y[:, None], float("-inf")), -1)
            share.append(float(rest.gather(-1, top2).sum(-1).mean()))
        if step % 50 == 0 or step == steps:
            zd = z_s.detach()
            zy = zd.gather(-1, y[:, None]).squeeze(-1)
            log.append({"step": step, "loss": loss.item(), "margin": float((zy - (zd.sum(-1) - zy) /
                                                                             (zd.shape[-1] - 1)).mean()),
                        "nontarget_grad_mass": float((scale * (1 - py)).mean())})
    return {"arm": arm, "name": ARMS[arm], "steps": steps, "seconds": time.perf_counter() - t0,
            "grad_share_m0_top2": sum(share) / max(len(share), 1), "curve": log,
            "strong": {k: v.detach().clone() for k, v in strong.state_dict().items()}}


def measures(state, seed, m1_eval, m0_eval, held, pad_id) -> dict:
    """Held-out EM and the A.6 mechanism measures of a final strong model against M1 and M0."""
    model, _, _ = load_policy(model_cfg(seed))
    model.load_state_dict(state)
    z, y, rows = answer_logits(model, held, pad_id)
    z1, _, _ = m1_eval
    z0, _, _ = m0_eval
    em = exact_match(z, y, rows, len(held))
    err1 = z1.argmax(-1) != y
    right = z.argmax(-1) == y
    k0 = top_negatives(z0, y, 1)[:, 0]
    return {"em": float(em.float().mean()), "em_items": em.tolist(),
            "m1_errors_fixed": float(right[err1].float().mean()) if err1.any() else float("nan"),
            "m1_right_broken": float((~right[~err1]).float().mean()),
            "margin_over_m0_top_negative": float((z.gather(-1, y[:, None]).squeeze(-1) - z.gather(-1, k0[:, None])
                                                  .squeeze(-1)).mean())}


def in_band(plateau_em: float) -> bool:
    """The gate's plateau condition: held-out EM in [0.35, 0.85] (A.6)."""
    return 0.35 <= plateau_em <= 0.85


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="abcdefg")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--sft-max", type=int, default=MAX_SFT, help="cap on SFT steps (smoke tests)")
    ap.add_argument("--train-size", type=int, default=4000, help="training items (A.6: 4,000)")
    ap.add_argument("--extra-lr", type=float, default=LR, help="constant lr of the extra steps (A.6: 1e-3)")
    ap.add_argument("--m0-rule", choices=["nearest", "first"], default="nearest",
                    help="nearest: snapshot nearest ½ plateau EM (A.6); first: first snapshot reaching it")
    ap.add_argument("--sft-cosine", type=int, default=0,
                    help="SFT of exactly this many steps, cosine decay to 0, M1 = the last model")
    ap.add_argument("--gate-only", action="store_true")
    ap.add_argument("--out", default="", help="results folder (default experiments/wmss/results)")
    ap.add_argument("--force", action="store_true", help="run the arms even if the gate fails")
    ap.add_argument("--skip-out-of-band", action="store_true",
                    help="settling design: a seed whose plateau EM is out of band fails the gate without arm (a)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out_json = Path(args.out or HERE / "results") / f"seed{args.seed}.json"
    weights = Path("runs/wmss") / f"{out_json.parent.name}-seed{args.seed}.pt"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    weights.parent.mkdir(parents=True, exist_ok=True)
    _, tok, _ = load_policy(model_cfg(args.seed))
    pad = tok.pad_token_id
    train, held = make_data(tok, args.seed, args.train_size)
    design = {"train_size": args.train_size, "extra_lr": args.extra_lr, "m0_rule": args.m0_rule, "steps": args.steps}
    if args.sft_cosine:
        design["sft_cosine"] = args.sft_cosine
    res = json.loads(out_json.read_text()) if out_json.exists() else {"seed": args.seed, "arms": {}, "design": design}
    if res.get("design", design) != design:
        raise SystemExit(f"{out_json}: written with design {res.get('design')}, not {design}; use another --out")
    if weights.exists():
        m1, m0 = (w := torch.load(weights, weights_only=True))["m1"], w["m0"]
    else:
        t0 = time.perf_counter()
        m1, m0, curve, m0_step, cands = sft_plateau(args.seed, train, held, pad, args.sft_max, args.m0_rule,
                                                    args.sft_cosine)
        torch.save({"m1": m1, "m0": m0}, weights)
        res["sft"] = {"curve": curve, "m1_step": curve[-1][0], "m0_step": m0_step, "m0_candidates": cands,
                      "seconds": time.perf_counter() - t0}
    evals, models = {}, []
    for name, state in (("m0", m0), ("m1", m1)):
        model, _, _ = load_policy(model_cfg(args.seed))
        model.load_state_dict(state)
        models.append(model)
        evals[name] = answer_logits(model, held, pad)
        evals[name + "_train"] = answer_logits(model, train, pad)
    z1, y, rows = evals["m1"]
    z0 = evals["m0"][0]
    em1 = exact_match(z1, y, rows, len(held))
    err = z1.argmax(-1) != y
    in_top2 = (top_negatives(z0, y, 2) == z1.argmax(-1)[:, None]).any(-1)
    zt1, yt, _ = evals["m1_train"]
    h0, h1 = (sample_entropy(model, train, pad, batch_size=500) for model in models)
    resample_idx = wdds_resample(wdds_weights(h0, h1), len(train), seed=42 + args.seed)
    gate = {k: v for k, v in res.get("calibration", {}).items() if k in ("arm_a_em_move", "gate", "gate_passed")}
    res["calibration"] = gate | {
        "plateau_em": float(em1.float().mean()),
        "m0_em": float(exact_match(z0, y, rows, len(held)).float().mean()),
        "m1_train_em": float(exact_match(zt1, yt, evals["m1_train"][2], len(train)).float().mean()),
        "median_train_p_target": float(torch.softmax(zt1, -1).gather(-1, yt[:, None]).median()),
        "m1_error_positions": int(err.sum()),
        "m1_wrong_in_m0_top2": float(in_top2[err].float().mean()),
        "chance_top2": 2 / 9, "h0_mean": float(h0.mean()), "h1_mean": float(h1.mean()),
        "wdds_unique_frac": len(set(resample_idx)) / len(train), "m1_em_items": em1.tolist()}
    out_json.write_text(json.dumps(res))
    if "gate" in res["calibration"] and not res["calibration"]["gate_passed"] and not args.force:
        print(f"gate failed on seed {args.seed} earlier: {res['calibration']['gate']}; arms not run", flush=True)
        return
    c = res["calibration"]
    if args.skip_out_of_band and "gate" not in c and not in_band(c["plateau_em"]) and not args.force:
        c["gate"], c["gate_passed"] = {"plateau_em_in_[0.35,0.85]": False}, False  # arm (a) cannot rescue it
        out_json.write_text(json.dumps(res))
        print(f"gate failed on seed {args.seed}: plateau EM {c['plateau_em']:.4f} out of band; arm (a) not run")
        return
    for arm in args.arms:
        if arm in res["arms"]:
            continue
        r = run_arm(arm, args.seed, m1, m0, train, held, pad, resample_idx, args.steps, args.extra_lr)
        r.update(measures(r.pop("strong"), args.seed, evals["m1"], evals["m0"], held, pad))
        res["arms"][arm] = r
        print(f"arm {arm} ({ARMS[arm]}): EM {r['em']:.4f} (M1 {res['calibration']['plateau_em']:.4f}), "
              f"{r['seconds']:.0f} s", flush=True)
        out_json.write_text(json.dumps(res))
        if arm == "a":
            c = res["calibration"]
            c["arm_a_em_move"] = r["em"] - c["plateau_em"]
            c["gate"] = {"median_p_target>=0.98": c["median_train_p_target"] >= 0.98,
                         "arm_a_|dEM|<0.01": abs(c["arm_a_em_move"]) < 0.01,
                         "plateau_em_in_[0.35,0.85]": in_band(c["plateau_em"]),
                         "m1_wrong_in_m0_top2>=0.40": c["m1_wrong_in_m0_top2"] >= 0.40}
            c["gate_passed"] = all(c["gate"].values())
            out_json.write_text(json.dumps(res))
            print(f"gate: {c['gate']}", flush=True)
            if args.gate_only or (not c["gate_passed"] and not args.force):
                return


if __name__ == "__main__":
    main()
