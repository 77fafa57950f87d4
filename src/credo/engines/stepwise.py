"""Batched decoding of one reasoning *step* per row, the primitive under step-wise search (SAGE).

Each distinct prefix (prompt + chain so far) is prefilled once and its KV cache repeated for its ``n`` samples; a row
ends at the first of: an EOS token or a ``stop`` string (kind ``stop``), the ``end_think`` string (``think``), the
``delimiter`` string (``step``), or its token cap (``step``, or ``length`` when the cap is the response budget).
Logits processors ``f(input_ids [R, L], logits [R, V]) -> logits`` (guided decoding) reshape the distribution that is
sampled from; ``logprobs`` are always the policy's, log softmax(logits / temperature) before any processor, and
``scores`` those of the distribution actually sampled (equal to ``logprobs`` without processors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from credo.models.device import model_device
from credo.models.forward import left_pad, prefill

LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Step:
    """One decoded step: its tokens, the policy's and the sampled distribution's log-probs per token, how it ended,
    and (when asked) whether ``check_token`` ranked within the top ``check_k`` where the step's last token was drawn."""

    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    kind: str = "length"  # step | think | stop | length
    check_hit: bool = False


def apply_processors(processors: Sequence[LogitsProcessor], ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Run each processor in order: (input_ids [R, L], logits [R, V]) -> logits [R, V]."""
    for proc in processors:
        logits = proc(ids, logits)
    return logits


class PieceText:
    """Token id -> decoded text, cached (stop-string checks decode one token per row per position)."""

    def __init__(self, tokenizer):
        self.tok, self.cache = tokenizer, {}

    def __call__(self, token: int) -> str:
        s = self.cache.get(token)
        if s is None:
            s = self.cache[token] = self.tok.decode([token])
        return s


@torch.no_grad()
def decode_steps(model, piece: PieceText, prefixes: list[list[int]], n: int, caps: list[int], budgets: list[int], *,
                 pad_id: int, eos_ids: Sequence[int], temperature: float = 1.0, greedy: bool = False,
                 delimiter: str = "", end_think: str = "", stop: Sequence[str] = (),
                 processors: Sequence[LogitsProcessor] = (), check_token: int | None = None,
                 check_k: int = 1) -> list[Step]:
    """Decode one step for each of ``n`` samples of each prefix → ``len(prefixes) * n`` Steps (prefix i's samples at
    ``[i*n:(i+1)*n]``). ``caps[i]`` is the token cap of prefix i's steps and ``budgets[i]`` the response tokens it
    has left (a step cut there is ``length``). Runs on the model's device, in whatever mode and autocast the caller
    set."""
    dev = model_device(model)
    ids, mask = left_pad(prefixes, pad_id, dev)
    logits, cache = prefill(model, ids, mask)
    rows = len(prefixes) * n
    rep = torch.arange(len(prefixes), device=dev).repeat_interleave(n)
    cache.batch_repeat_interleave(n)
    logits, mask = logits[rep], mask[rep]
    seq = ids[rep] if processors else None
    pos = mask.sum(-1, keepdim=True)
    active = torch.arange(rows, device=dev)
    out = [Step() for _ in range(rows)]
    texts = [""] * rows
    cap = [min(caps[r // n], budgets[r // n]) for r in range(rows)]
    eos = set(eos_ids)
    ends = ([(end_think, "think")] if end_think else []) + [(x, "stop") for x in stop if x]
    ends += [(delimiter, "step")] if delimiter else []
    longest = max((len(s) for s, _ in ends), default=0)
    temp = max(temperature, 1e-5)
    if max(cap, default=0) <= 0:
        return out
    while True:
        logp = torch.log_softmax(logits.float() / temp, dim=-1)
        dist = logp
        if processors:
            dist = torch.log_softmax(apply_processors(processors, seq, logits.float()) / temp, dim=-1)
        tok = dist.argmax(-1) if greedy else torch.multinomial(dist.exp(), 1).squeeze(-1)
        lp = logp.gather(-1, tok.unsqueeze(-1)).squeeze(-1).tolist()
        sc = dist.gather(-1, tok.unsqueeze(-1)).squeeze(-1).tolist()
        hits = None
        if check_token is not None:  # rank of check_token = tokens strictly more likely than it
            hits = ((dist > dist[:, check_token:check_token + 1]).sum(-1) < check_k).tolist()
        done = []
        for j, (r, t) in enumerate(zip(active.tolist(), tok.tolist())):
            s = out[r]
            s.tokens.append(t)
            s.logprobs.append(lp[j])
            s.scores.append(sc[j])
            if hits is not None:
                s.check_hit = hits[j]
            kind = "stop" if t in eos else None
            if kind is None and ends:
                p = piece(t)
                texts[r] += p
                tail = texts[r][-(longest + len(p)):]
                kind = next((k for e, k in ends if e in tail), None)
            if kind is None and len(s.tokens) >= cap[r]:
                kind = "length" if cap[r] >= budgets[r // n] else "step"
            if kind is not None:
                s.kind = kind
            done.append(kind is not None)
        keep = (~torch.tensor(done, device=dev)).nonzero().squeeze(-1)
        if keep.numel() == 0:
            return out
        if keep.numel() < active.numel():
            cache.batch_select_indices(keep)
            active, tok, mask, pos = active[keep], tok[keep], mask[keep], pos[keep]
            seq = seq[keep] if seq is not None else None
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        if seq is not None:
            seq = torch.cat([seq, tok.unsqueeze(-1)], dim=1)
        o = model(input_ids=tok.unsqueeze(-1), attention_mask=mask, position_ids=pos, cache=cache, use_cache=True)
        cache, logits, pos = o.past_key_values, o.logits[:, -1, :], pos + 1
