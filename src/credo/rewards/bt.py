"""Bradley-Terry scalar reward model: a backbone's last-token hidden state -> linear head -> one reward per text.

Trained on preference pairs (:mod:`credo.rewards.pairs`) with ``-log sigmoid(r_chosen - r_rejected)``. The backbone
is any module mapping ``(input_ids [B, L], attention_mask [B, L])`` to hidden states ``[B, L, H]``, or a Hugging
Face model (its last ``hidden_states`` are used), e.g. a causal LM from :func:`credo.models.load_policy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from credo.models.device import model_device
from credo.rewards.pairs import Pair


@dataclass
class BTConfig:
    steps: int = 200
    batch_size: int = 16
    lr: float = 1e-3
    max_length: int = 256  # tokens per (prompt + response), truncated from the left
    seed: int = 0


def bt_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean ``-log sigmoid(r_c - r_r)`` over pairs; r_* are [B] rewards."""
    return -nn.functional.logsigmoid(r_chosen - r_rejected).mean()


class BTRewardModel(nn.Module):
    """``forward(input_ids, attention_mask) -> rewards [B]``: the head applied to each row's last real token."""

    def __init__(self, backbone: nn.Module, hidden_size: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **(
            {} if isinstance(self.backbone, TokenEncoder) else {"output_hidden_states": True}))
        hidden = out if isinstance(out, torch.Tensor) else out.hidden_states[-1]
        last = attention_mask.long().cumsum(1).argmax(1)  # index of the last real token (right padding)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return self.head(hidden[rows, last].float()).squeeze(-1)


class TokenEncoder(nn.Module):
    """A small backbone for toy data: token embeddings averaged over the prefix (cumulative mean), [B, L, H]."""

    def __init__(self, vocab_size: int, hidden_size: int):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.unsqueeze(-1).float()
        summed = (self.emb(input_ids) * m).cumsum(1)
        return summed / m.cumsum(1).clamp(min=1.0)


def encode(tokenizer, prompts: Sequence[str], responses: Sequence[str], max_length: int,
           device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded ``prompt + "\\n" + response`` ids, truncated from the left to ``max_length`` tokens."""
    ids = [tokenizer(f"{p}\n{r}", add_special_tokens=False)["input_ids"][-max_length:] or [tokenizer.pad_token_id]
           for p, r in zip(prompts, responses)]
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)], mask[i, : len(x)] = torch.tensor(x), 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}


@torch.no_grad()
def score(model: BTRewardModel, tokenizer, prompts: Sequence[str], responses: Sequence[str],
          max_length: int = 256, batch_size: int = 32) -> list[float]:
    """Scalar rewards, one per (prompt, response)."""
    model.eval()
    dev = model_device(model)
    out: list[float] = []
    for i in range(0, len(prompts), batch_size):
        out += model(**encode(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size], max_length,
                              dev)).tolist()
    return out


def pairwise_accuracy(model: BTRewardModel, tokenizer, pairs: Sequence[Pair], max_length: int = 256) -> float:
    """Fraction of pairs with r(chosen) > r(rejected) (ties count as wrong)."""
    prompts = [p.prompt for p in pairs]
    rc = score(model, tokenizer, prompts, [p.chosen for p in pairs], max_length)
    rr = score(model, tokenizer, prompts, [p.rejected for p in pairs], max_length)
    return sum(c > r for c, r in zip(rc, rr)) / max(len(pairs), 1)


def train_bt(model: BTRewardModel, tokenizer, pairs: Sequence[Pair], cfg: BTConfig) -> dict[str, float]:
    """``cfg.steps`` AdamW steps on seeded minibatches of pairs; returns ``bt/loss_first``, ``bt/loss_last``."""
    if not pairs:
        raise ValueError("Bradley-Terry training needs at least one pair")
    model.train()
    dev = model_device(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    g = torch.Generator(device="cpu").manual_seed(cfg.seed)
    order: list[int] = []
    first = last = math.nan
    for step in range(cfg.steps):
        if len(order) < cfg.batch_size:
            order += torch.randperm(len(pairs), generator=g).tolist()
        batch = [pairs[i] for i in order[: cfg.batch_size]]
        del order[: cfg.batch_size]
        prompts = [p.prompt for p in batch]
        both = encode(tokenizer, prompts + prompts, [p.chosen for p in batch] + [p.rejected for p in batch],
                      cfg.max_length, dev)
        r = model(**both)
        loss = bt_loss(r[: len(batch)], r[len(batch):])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = float(loss.detach())
        first = last if step == 0 else first
    model.eval()
    return {"bt/loss_first": first, "bt/loss_last": last, "bt/steps": float(cfg.steps)}
