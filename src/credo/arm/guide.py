"""Guided decoding as a logits processor: a callable ``(input_ids [B, L], logits [B, V]) -> logits [B, V]``.

GenARM's token-level rule: logits = log π_base + Σ_j α_j log π_arm_j(· | x, y_<t; λ_j), divided by 1 + Σ_j α_j
when ``normalize`` (GenARM's temperature normalisation: the weights of the geometric mixture sum to 1). One
preference-conditioned ARM (PBLoRA / MoSLoRA) with α gives UniARM / PARM decoding; several single-objective ARMs with
α_j = α · λ_j give GenARM's multi-objective product. The ARM may sit on a smaller base than the guided model
(weak-to-strong) as long as the vocabularies agree on their shared ids; ids beyond the ARM's vocabulary are masked.

Each ARM keeps its own KV cache across calls: a call whose rows extend (a subset of) the previous call's rows by
one token costs one token forward; anything else re-prefills.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from credo.arm.adapters import set_preference
from credo.models.device import model_device


class ArmStream:
    """Next-token log-probs of one ARM for a batch of growing sequences, with an incremental KV cache."""

    def __init__(self, model: torch.nn.Module, pad_id: int):
        self.model, self.pad_id = model, pad_id
        self.ids: torch.Tensor | None = None
        self.cache: Any = None
        self.mask: torch.Tensor | None = None

    def reset(self) -> None:
        self.ids = self.cache = self.mask = None

    def _rows_extending(self, ids: torch.Tensor) -> list[int] | None:
        """Previous row of each new row when every new row is a previous row plus one token (order kept)."""
        prev = self.ids
        if prev is None or self.cache is None or ids.shape[1] != prev.shape[1] + 1 or ids.shape[0] > prev.shape[0]:
            return None
        head = ids[:, :-1]
        if ids.shape[0] == prev.shape[0] and torch.equal(head, prev):
            return list(range(ids.shape[0]))
        out, p = [], 0
        for row in head:
            while p < prev.shape[0] and not torch.equal(row, prev[p]):
                p += 1
            if p == prev.shape[0]:
                return None
            out.append(p)
            p += 1
        return out

    @torch.no_grad()
    def logprobs(self, ids: torch.Tensor) -> torch.Tensor:
        """log π_arm(· | ids): [B, V_arm] float32 on the ARM's device; ``ids`` left-padded with ``pad_id``."""
        dev = model_device(self.model)
        ids = ids.to(dev)
        rows = self._rows_extending(ids)
        if rows is None:
            mask = ((ids != self.pad_id).long().cumsum(-1) > 0).long()
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            config = getattr(self.model, "config", None)
            cache = DynamicCache(config=config) if config is not None else DynamicCache()
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache,
                             use_cache=True, logits_to_keep=1)
        else:
            if rows != list(range(len(rows))) or len(rows) != self.ids.shape[0]:
                self.cache.batch_select_indices(torch.tensor(rows, device=dev))
            mask = torch.cat([self.mask[rows], torch.ones_like(self.mask[rows][:, :1])], dim=1)
            pos = mask.sum(-1, keepdim=True) - 1
            out = self.model(input_ids=ids[:, -1:], attention_mask=mask, position_ids=pos,
                             cache=self.cache, use_cache=True)
        self.ids, self.mask, self.cache = ids, mask, out.past_key_values
        return torch.log_softmax(out.logits[:, -1].float(), dim=-1)


@dataclass
class GuideTerm:
    """One ARM in the product: its model, its preference λ (None for a single-objective ARM) and its weight α."""

    model: torch.nn.Module
    pref: list[float] | None
    alpha: float


class GuidedLogits:
    """The logits processor (module docstring). ``terms``: the ARMs; ``pad_id``: the pad id of the shared
    vocabulary (left padding of ``input_ids``)."""

    def __init__(self, terms: list[GuideTerm], pad_id: int, normalize: bool = True):
        if not terms:
            raise ValueError("guided decoding needs at least one ARM")
        self.terms, self.normalize = terms, normalize
        self.streams = [ArmStream(t.model, pad_id) for t in terms]

    def reset(self) -> None:
        for s in self.streams:
            s.reset()

    def __call__(self, input_ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        out = torch.log_softmax(logits.float(), dim=-1)
        vocab = out.shape[-1]
        total = 0.0
        for term, stream in zip(self.terms, self.streams):
            set_preference(term.model, term.pref)
            lp = stream.logprobs(input_ids).to(out.device)
            v = min(vocab, lp.shape[-1])
            out[:, :v] += term.alpha * lp[:, :v]
            if v < vocab:
                out[:, v:] = float("-inf")
            total += term.alpha
        return out / (1.0 + total) if self.normalize else out
