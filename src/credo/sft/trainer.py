"""Supervised fine-tuning on (prompt, answer) token pairs, loss on answer tokens only.

Padded mode: one example per row, right-padded. Packed mode: examples are concatenated into rows of
``pack_length`` tokens; a block-diagonal causal mask and per-example position ids keep examples from attending to
each other, so packed and padded batches give the same loss.
"""

from __future__ import annotations

import math

import torch
from transformers import PreTrainedModel

from credo.config import SFTConfig
from credo.models.device import autocast, model_device, on_host
from credo.train.learner import lr_lambda

IGNORE = -100


def sft_examples(tokenizer, task, rows: list[dict], chat_template: bool = True) -> list[tuple[list[int], list[int]]]:
    """(prompt ids through the chat path, target ids + EOS) per task row: what every SFT warm start trains on."""
    from credo.tasks import encode_task_prompt

    return [(encode_task_prompt(tokenizer, task, r, chat_template),
             tokenizer(task.target(r), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
            for r in rows]


@on_host
def padded_batch(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """→ input_ids [B, L], attention_mask [B, L], labels [B, L] (prompt and padding labelled -100)."""
    length = max(len(p) + len(a) for p, a in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE)
    mask = torch.zeros_like(ids)
    for i, (p, a) in enumerate(examples):
        seq = torch.tensor(p + a)
        ids[i, : len(seq)], mask[i, : len(seq)] = seq, 1
        labels[i, len(p): len(seq)] = torch.tensor(a)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@on_host
def packed_batch(examples: list[tuple[list[int], list[int]]], pad_id: int, length: int) -> dict[str, torch.Tensor]:
    """First-fit packing → input_ids, labels, position_ids [R, length] and a 4-D mask [R, 1, length, length]."""
    rows: list[list[tuple[list[int], list[int]]]] = []
    fill: list[int] = []
    for p, a in examples:
        n = len(p) + len(a)
        if n > length:
            raise ValueError(f"an example of {n} tokens exceeds sft.pack_length={length}")
        j = next((k for k, f in enumerate(fill) if f + n <= length), None)
        if j is None:
            rows.append([])
            fill.append(0)
            j = len(rows) - 1
        rows[j].append((p, a))
        fill[j] += n
    r = len(rows)
    ids = torch.full((r, length), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE)
    pos = torch.zeros_like(ids)
    seg = torch.full((r, length), -1, dtype=torch.long)  # example index per position; -1 = padding
    for i, row in enumerate(rows):
        at = 0
        for k, (p, a) in enumerate(row):
            n = len(p) + len(a)
            ids[i, at:at + n] = torch.tensor(p + a)
            labels[i, at + len(p):at + n] = torch.tensor(a)
            pos[i, at:at + n] = torch.arange(n)
            seg[i, at:at + n] = k
            at += n
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
    same = (seg.unsqueeze(2) == seg.unsqueeze(1)) & (seg.unsqueeze(2) >= 0)
    mask = (same & causal) | torch.eye(length, dtype=torch.bool)  # padding attends to itself: no empty rows
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "attention_mask": mask.unsqueeze(1)}


def sft_loss(model: PreTrainedModel, batch: dict[str, torch.Tensor],
             mixed_precision: str = "no") -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over labelled tokens, and their count (batch moved to the model's device)."""
    dev = model_device(model)
    batch = {k: v.to(dev) for k, v in batch.items()}
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with autocast(dev, mixed_precision):
        logits = model(**inputs).logits[:, :-1].float()
    target = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                             ignore_index=IGNORE, reduction="sum")
    return loss, int((target != IGNORE).sum())


def sft_train(model: PreTrainedModel, pad_id: int, examples: list[tuple[list[int], list[int]]], cfg: SFTConfig,
              seed: int = 0, log=None, mixed_precision: str = "no") -> dict[str, float]:
    """Train ``cfg.steps`` AdamW steps on batches of ``cfg.batch_size`` examples (token-mean loss, warm-up then
    cosine LR) on the model's device. ``log(step, metrics)`` is called every step if given. Returns ``sft/*``
    summary metrics. With LoRA only the adapter trains (the base is frozen)."""
    if not examples:
        raise ValueError("SFT needs at least one example")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("cosine", max(1, cfg.steps // 20), cfg.steps))
    scaler = torch.amp.GradScaler(model_device(model).type, enabled=mixed_precision == "fp16")
    g = torch.Generator(device="cpu").manual_seed(seed)
    order: list[int] = []
    first = last = math.nan
    for step in range(cfg.steps):
        if len(order) < cfg.batch_size:
            order += torch.randperm(len(examples), generator=g, device="cpu").tolist()
        chosen = [examples[i] for i in order[: cfg.batch_size]]
        del order[: cfg.batch_size]
        batch = (packed_batch(chosen, pad_id, cfg.pack_length) if cfg.packing else padded_batch(chosen, pad_id))
        total, count = sft_loss(model, batch, mixed_precision)
        loss = total / max(count, 1)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(opt)
        scaler.update()
        sched.step()
        opt.zero_grad(set_to_none=True)
        last = float(loss.detach())
        first = last if step == 0 else first
        if log is not None:
            log(step + 1, {"sft/loss": last, "sft/lr": sched.get_last_lr()[0]})
    return {"sft/loss_first": first, "sft/loss_last": last, "sft/steps": float(cfg.steps)}
