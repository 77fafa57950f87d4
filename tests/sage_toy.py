"""A bigram language model with a hand-written next-token table, shaped like a Hugging Face causal LM (logits, a
cache object with the batch methods the engines call) so the real SAGE and engine code paths run on it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

VOCAB = ["<pad>", "<eos>", "q", "a", "|", "#", "x", "b"]
ID = {c: i for i, c in enumerate(VOCAB)}


class ToyCache:
    def batch_repeat_interleave(self, n: int) -> None:
        pass

    def batch_select_indices(self, idx: torch.Tensor) -> None:
        pass


class ToyLM(torch.nn.Module):
    """Next-token distribution depends on the current token only: ``table[prev][next]`` probabilities."""

    def __init__(self, table: dict[str, dict[str, float]]):
        super().__init__()
        logits = torch.full((len(VOCAB), len(VOCAB)), -1e9)
        for prev, nxt in table.items():
            for c, p in nxt.items():
                logits[ID[prev], ID[c]] = math.log(p)
        self.table = torch.nn.Parameter(logits, requires_grad=False)
        self.config = SimpleNamespace(max_position_embeddings=1024)
        self.generation_config = None

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, use_cache=False, **kw):
        return SimpleNamespace(logits=self.table[input_ids], past_key_values=cache if cache is not None else
                               ToyCache())


class ToyTokenizer:
    pad_token_id, eos_token_id = ID["<pad>"], ID["<eos>"]

    def decode(self, ids, skip_special_tokens=False):
        ids = ids.tolist() if torch.is_tensor(ids) else ids
        return "".join(VOCAB[i] for i in ids if not (skip_special_tokens and i < 2))

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ID[c] for c in text]}


def patch_prefill(monkeypatch) -> None:
    """The engines build a ``DynamicCache``, which needs a real model config: give them a ToyCache instead."""
    import credo.engines.kvcache as kvcache
    import credo.engines.stepwise as stepwise
    import credo.models.forward as forward

    def prefill(model, ids, mask):
        out = model(input_ids=ids, attention_mask=mask, cache=ToyCache())
        return out.logits[:, -1, :], out.past_key_values

    monkeypatch.setattr(stepwise, "prefill", prefill)
    monkeypatch.setattr(kvcache, "prefill", prefill)
    monkeypatch.setattr(forward, "prefill", prefill)
