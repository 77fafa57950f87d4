"""Forward passes that process each distinct prompt once.

A group's G responses share one prompt. Instead of running the prompt G times, the prompt is forwarded once with
``use_cache=True``, its key/value cache is gathered out to the G rows, and the responses are forwarded on top with
position ids that continue after the prompt. Gradients flow through the cached keys/values into the single prompt
forward, so the loss and gradient equal those of the repeated-prompt forward (to float rounding).
"""

from __future__ import annotations

import torch
from transformers import DynamicCache, PreTrainedModel

from credo.models.device import model_device


def left_pad(seqs: list[list[int]] | list[torch.Tensor], pad_id: int,
             device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences → (ids [N, L], mask [N, L]) padded on the left, on ``device``."""
    n, length = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((n, length), pad_id, dtype=torch.long, device="cpu")  # filled on the host, then moved once
    mask = torch.zeros((n, length), dtype=torch.long, device="cpu")
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, length - len(s):] = torch.as_tensor(s, dtype=torch.long, device="cpu")
            mask[i, length - len(s):] = 1
    return ids.to(device), mask.to(device)


def right_pad(seqs: list[torch.Tensor], pad_value: float | int, dtype: torch.dtype,
              device: torch.device | str | None = None) -> torch.Tensor:
    """1-D tensors → [N, max len] padded on the right, on ``device`` (default: the first tensor's device)."""
    device = device if device is not None else (seqs[0].device if seqs else "cpu")
    length = max(1, max(len(s) for s in seqs))
    out = torch.full((len(seqs), length), pad_value, dtype=dtype, device=device)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def prefill(model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, DynamicCache]:
    """Forward left-padded prompts [P, L] once → (logits at the last position [P, V], cache)."""
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                logits_to_keep=1)
    return out.logits[:, -1, :], out.past_key_values


def unique_prompts(prompts: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Deduplicate prompts → (distinct prompts, row → distinct index [N], on CPU)."""
    seen: dict[tuple[int, ...], int] = {}
    uniq: list[torch.Tensor] = []
    index = []
    for p in prompts:
        key = tuple(p.tolist())
        if key not in seen:
            seen[key] = len(uniq)
            uniq.append(p)
        index.append(seen[key])
    return uniq, torch.tensor(index, dtype=torch.long, device="cpu")


def response_logits(model: PreTrainedModel, prompts: list[torch.Tensor], responses: list[torch.Tensor],
                    pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that predict each response token, with every distinct prompt forwarded once.

    prompts, responses: N 1-D token tensors. Returns (logits [N, T, V] where ``logits[i, t]`` predicts
    ``responses[i][t]``, mask [N, T] of real response tokens), on the model's device.
    """
    dev = model_device(model)
    uniq, row_cpu = unique_prompts(prompts)
    row = row_cpu.to(dev)
    p_ids, p_mask = left_pad(uniq, pad_id, dev)
    last, cache = prefill(model, p_ids, p_mask)
    g = len(row_cpu) // len(uniq)
    if len(row_cpu) == g * len(uniq) and row_cpu.tolist() == [i // g for i in range(len(row_cpu))]:
        cache.batch_repeat_interleave(g)  # contiguous equal groups: cheaper backward than a gather
    else:
        cache.batch_select_indices(row)  # gather the prompt cache out to the N rows (differentiable indexing)
    r_ids = right_pad(responses, pad_id, torch.long, dev)
    r_mask = right_pad([torch.ones(len(r), dtype=torch.long, device=dev) for r in responses], 0, torch.long, dev)
    full_mask = torch.cat([p_mask[row], r_mask], dim=1)
    start = p_mask.sum(-1)[row].unsqueeze(1)
    pos = start + torch.arange(r_ids.shape[1], device=dev).unsqueeze(0)
    out = model(input_ids=r_ids, attention_mask=full_mask, position_ids=pos, cache=cache, use_cache=False)
    logits = torch.cat([last[row].unsqueeze(1), out.logits[:, :-1]], dim=1)
    return logits, r_mask.to(logits.dtype)


def response_logits_full(model: PreTrainedModel, prompts: list[torch.Tensor], responses: list[torch.Tensor],
                         pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Same result as :func:`response_logits`, forwarding each row's prompt + response as one sequence (no KV
    cache; the path for gradient checkpointing, which drops caches in training forwards)."""
    dev = model_device(model)
    p_ids, p_mask = left_pad(prompts, pad_id, dev)
    r_ids = right_pad(responses, pad_id, torch.long, dev)
    r_mask = right_pad([torch.ones(len(r), dtype=torch.long, device=dev) for r in responses], 0, torch.long, dev)
    mask = torch.cat([p_mask, r_mask], dim=1)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=torch.cat([p_ids, r_ids], dim=1), attention_mask=mask, position_ids=pos, use_cache=False)
    lp = p_ids.shape[1]
    return out.logits[:, lp - 1: lp - 1 + r_ids.shape[1]], r_mask.to(out.logits.dtype)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(logits / T) at ``tokens``: [N, T, V], [N, T] → [N, T]."""
    if temperature != 1.0:
        logits = logits / temperature
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def entropy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Entropy (nats) of softmax(logits / T) per position: [N, T, V] → [N, T]."""
    logp = torch.log_softmax(logits.detach().float() / temperature, dim=-1)
    return -(logp.exp() * logp).sum(-1)
