"""ARM training: the GenARM / PARM / UniARM objective on preference pairs, resumable exactly.

Each step draws its batch and its λ from (train.seed, step) alone, so a resumed run replays the same stream; a
checkpoint (``checkpoints/step_N/trainer``, ``credo.train.state`` format: safetensors + JSON, written atomically)
holds the adapter tensors, the optimizer and scheduler states and the torch RNG (dropout).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from credo.arm.adapters import set_preference, trainable_parameters
from credo.arm.config import ArmConfig
from credo.arm.data import EncodedPairs, encode_pairs, read_pairs
from credo.arm.loss import preference_loss, sequence_logprobs
from credo.arm.model import build_arm, load_trainable, save_arm, trainable_state
from credo.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)


def load_rows(cfg: ArmConfig) -> tuple[list[dict], list[dict]]:
    """(train rows, held-out rows) of ``cfg.data``."""
    d = cfg.data
    if d.source == "synthetic":
        from credo.arm.synthetic import TopicTask

        task = TopicTask(d.seed)
        return (task.pairs(d.size, d.seed, d.length, d.label_temperature),
                task.pairs(d.eval_size, d.seed + 10_000, d.length, d.label_temperature))
    rows = read_pairs(d.source, list(d.objectives))
    if d.eval_size >= len(rows):
        from credo.config import ConfigError

        raise ConfigError(f"data.eval_size: {d.eval_size}; {d.source} has only {len(rows)} pairs")
    cut = len(rows) - d.eval_size
    return rows[:cut], rows[cut:]


def step_lambda(cfg: ArmConfig, step: int) -> np.ndarray:
    """λ of ``step``: one-hot of data.objective (lora), else a Dirichlet(train.dirichlet) draw seeded by the step."""
    k = len(cfg.data.objectives)
    if cfg.adapter.kind == "lora":
        return np.eye(k)[list(cfg.data.objectives).index(cfg.data.objective)]
    rng = np.random.default_rng([cfg.train.seed, step, 1])
    return rng.dirichlet(np.full(k, cfg.train.dirichlet))


def step_batch(cfg: ArmConfig, step: int, n: int) -> list[int]:
    """Pair indices of ``step``: consecutive slices of per-epoch permutations seeded by (seed, epoch)."""
    b = cfg.train.batch_size
    out: list[int] = []
    pos = step * b
    while len(out) < b:
        epoch, at = divmod(pos, n)
        perm = np.random.default_rng([cfg.train.seed, epoch, 2]).permutation(n)
        take = perm[at: at + b - len(out)]
        out.extend(int(i) for i in take)
        pos += len(take)
    return out


@torch.no_grad()
def pairwise_accuracy(model: torch.nn.Module, pad_id: int, pairs: EncodedPairs, objectives: list[str],
                      lam_for: Any, batch: int = 64) -> dict[str, float]:
    """Per objective i: the share of held-out pairs whose margin sign under λ = ``lam_for(i)`` matches z_i."""
    was = model.training
    model.eval()
    out = {}
    for i, name in enumerate(objectives):
        set_preference(model, lam_for(i))
        hits = 0.0
        for s in range(0, len(pairs), batch):
            part = pairs.select(list(range(s, min(s + batch, len(pairs)))))
            m = (sequence_logprobs(model, part.prompts, part.y0, pad_id)
                 - sequence_logprobs(model, part.prompts, part.y1, pad_id)).cpu()
            hits += ((m > 0).float() == (1 - part.z[:, i])).float().sum().item()
        out[f"eval/accuracy_{name}"] = hits / max(1, len(pairs))
    model.train(was)
    return out


def train_arm(cfg: ArmConfig, resume: bool = False, overwrite: bool = False, model: Any = None, tokenizer: Any = None,
              rows: tuple[list[dict], list[dict]] | None = None) -> tuple[torch.nn.Module, Any, dict]:
    """Train the ARM of ``cfg`` into ``cfg.log.output_dir`` (``arm/`` at the end); returns (model, tokenizer, the
    final metrics including ``trainable_parameters`` and the held-out pairwise accuracies)."""
    from transformers import get_scheduler

    from credo.models.device import resolve_device
    from credo.train.metrics import MetricsLogger
    from credo.train.rundir import open_run_dir

    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    train_rows, eval_rows = rows if rows is not None else load_rows(cfg)  # bad data fails before the run folder
    out = Path(cfg.log.output_dir)
    lock, ckpt = open_run_dir(out, resume=resume, overwrite=overwrite, find_checkpoint=latest_checkpoint)
    try:
        seed_everything(t.seed)
        device = resolve_device(t.device)
        model, tok = build_arm(cfg, device, model, tokenizer)
        objectives = list(cfg.data.objectives)
        pairs = encode_pairs(tok, train_rows, objectives, cfg.model.chat_template)
        held = encode_pairs(tok, eval_rows, objectives, cfg.model.chat_template) if eval_rows else None
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
        sched = get_scheduler("cosine", opt, num_warmup_steps=t.warmup, num_training_steps=max(1, t.steps))
        start = 0
        if ckpt is not None:
            state = load_checkpoint_state(ckpt)
            load_trainable(model, state["params"], str(ckpt))
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"])
            start = state["step"]
        else:
            (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1), encoding="utf-8")
        n_train = trainable_parameters(model)
        model.train()
        pad = tok.pad_token_id
        last: dict[str, float] = {}
        with MetricsLogger(out, tensorboard=False, resume_step=start if ckpt is not None else None) as log:
            for step in range(start, t.steps):
                tic = time.perf_counter()
                lam = torch.tensor(step_lambda(cfg, step), dtype=torch.float32)
                set_preference(model, lam)
                batch = pairs.select(step_batch(cfg, step, len(pairs)))
                lp = sequence_logprobs(model, batch.prompts * 2, batch.y0 + batch.y1, pad)
                n = len(batch)
                loss, parts = preference_loss(lp[:n], lp[n:], batch.z.to(lp.device), lam, t.beta, t.lam_reg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if t.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
                opt.step()
                sched.step()
                last = {"loss": loss.item(), **parts, "lr": sched.get_last_lr()[0],
                        "step_seconds": time.perf_counter() - tic}
                log.log(step + 1, last)
                done = step + 1
                if (t.save_every and done % t.save_every == 0) or done == t.steps:
                    save_checkpoint(out, done, {}, {}, {"params": trainable_state(model), "optimizer": opt.state_dict(),
                                                       "scheduler": sched.state_dict()}, t.keep_last)
            final = {"trainable_parameters": n_train, **last}
            if held is not None:
                k = len(objectives)
                if cfg.adapter.kind == "lora":
                    j = objectives.index(cfg.data.objective)
                    final |= {key: v for key, v in pairwise_accuracy(
                        model, pad, held, objectives, lambda i: None).items() if key.endswith(objectives[j])}
                else:
                    final |= pairwise_accuracy(model, pad, held, objectives, lambda i: np.eye(k)[i].tolist())
            log.log(t.steps, {k: v for k, v in final.items() if k.startswith("eval/")})
        save_arm(out / "arm", model, cfg)
        (out / "summary.json").write_text(json.dumps(final, indent=1), encoding="utf-8")
        return model, tok, final
    finally:
        lock.release()
