"""Decoders behind :class:`credo.engines.hf.HFEngine`: the model-side state of batched sampling.

A decoder is built from left-padded prompts [P, L] and a group size n, holds the logits of its live rows, and
advances them one token at a time: ``dec.rows`` (original row index of each live row, ascending, [A]),
``dec.logits`` ([A, V]), ``dec.step(tok [A], done [A]) -> logits`` of the rows still live. Row r samples prompt
``r // n``. Live rows are always in ascending row order, so a sampler that draws for the live rows consumes the
random stream exactly as the reference path does.

- :class:`ReferenceDecoder` works on any Hugging Face causal LM: the prompt's ``DynamicCache`` repeated n times,
  grown by concatenation every token, finished rows dropped at once.
- :class:`SharedPrefixDecoder` (Llama-like models: ``FAST_TYPES``) prefills with the model's own forward, then
  decodes with its own layer loop: the prompt K/V is held once per group and attended by the group's samples
  (shared-prefix attention: one softmax over [prompt keys | own suffix keys]); the samples' K/V goes into a buffer
  preallocated for ``max_new_tokens``; finished rows keep their slot until compaction frees at least ``COMPACT_AT``
  of the slots. Its log-probs equal the reference's to float rounding (tests/test_kvcache.py states the tolerance).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from credo.models.forward import prefill

FAST_TYPES = ("llama", "mistral", "qwen2")
COMPACT_AT = 0.25  # compact the slot grid once it would shrink by at least this fraction


def base_model(model: PreTrainedModel) -> PreTrainedModel:
    """The transformers model under a peft wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supports_fast(model: PreTrainedModel, length: int) -> bool:
    """Whether :class:`SharedPrefixDecoder` covers ``model`` for sequences up to ``length`` tokens: a Llama-like
    decoder (q/k/v/o projections, rotary positions, no q/k norms), full attention over that length."""
    m = base_model(model)
    cfg = m.config
    if getattr(cfg, "model_type", None) not in FAST_TYPES:
        return False
    window = getattr(cfg, "sliding_window", None) if getattr(cfg, "use_sliding_window", True) else None
    if window is not None and length > window:
        return False
    inner = getattr(m, "model", None)
    if inner is None or not hasattr(m, "lm_head") or not all(
            hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb")):
        return False
    attn = inner.layers[0].self_attn
    return all(hasattr(attn, a) for a in ("q_proj", "k_proj", "v_proj", "o_proj", "scaling", "head_dim")) and \
        not hasattr(attn, "q_norm")


def make_decoder(model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, n: int, max_new_tokens: int,
                 fast: bool = True):
    """The fast decoder where it applies (and ``fast``), else the reference one."""
    if fast and supports_fast(model, ids.shape[1] + max_new_tokens):
        return SharedPrefixDecoder(model, ids, mask, n, max_new_tokens)
    return ReferenceDecoder(model, ids, mask, n)


class ReferenceDecoder:
    """Any causal LM through its own forward and ``DynamicCache``."""

    def __init__(self, model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, n: int):
        logits, self.cache = prefill(model, ids, mask)
        rep = torch.arange(ids.shape[0], device=ids.device).repeat_interleave(n)
        self.cache.batch_repeat_interleave(n)
        self.model, self.logits, self.mask = model, logits[rep], mask[rep]
        self.pos = self.mask.sum(-1, keepdim=True)  # next position id per row
        self.rows = torch.arange(len(rep), device=ids.device)

    def step(self, tok: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        keep = (~done).nonzero().squeeze(-1)
        if keep.numel() < self.rows.numel():
            self.cache.batch_select_indices(keep)
            self.rows, tok, self.mask, self.pos = self.rows[keep], tok[keep], self.mask[keep], self.pos[keep]
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        out = self.model(input_ids=tok.unsqueeze(-1), attention_mask=self.mask, position_ids=self.pos,
                         cache=self.cache, use_cache=True)
        self.cache, self.logits, self.pos = out.past_key_values, out.logits[:, -1, :], self.pos + 1
        return self.logits


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (the Llama convention): x [S, H, 1, d], cos/sin [S, 1, 1, d]."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class SharedPrefixDecoder:
    """Slots on a grid [groups, C]: row g of the grid holds samples of one prompt; ``slot_row`` maps slots to
    original rows (-1 once finished). Prompt K/V per layer: [groups, Hkv, L, d]; sample K/V: [groups, C, Hkv,
    max_new_tokens, d], written in place."""

    def __init__(self, model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, n: int, max_new_tokens: int):
        m = base_model(model)
        self.inner, self.head = m.model, m.lm_head
        attn = self.inner.layers[0].self_attn
        cfg = m.config
        self.h, self.hkv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.d, self.scale = attn.head_dim, attn.scaling
        logits, cache = prefill(model, ids, mask)  # the model's own forward: first-token logits as the reference
        self.kp = [layer.keys for layer in cache.layers]
        self.vp = [layer.values for layer in cache.layers]
        dev, p = ids.device, ids.shape[0]
        self.groups, self.c, self.cap = p, n, max(1, max_new_tokens)
        self.slot_row = torch.arange(p * n, device=dev)
        self.pos = mask.sum(-1).repeat_interleave(n)  # next position id per slot
        self.pad = mask == 0  # [groups, L]
        self.bias: torch.Tensor | None = None
        self.ks: list[torch.Tensor | None] = [None] * len(self.kp)
        self.vs: list[torch.Tensor | None] = [None] * len(self.kp)
        self.t = 0  # sample tokens held per slot
        self.live = self.slot_row.clone()
        self.rows = self.slot_row.clone()
        self.logits = logits.repeat_interleave(n, dim=0)

    def step(self, tok: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        feed = torch.zeros_like(self.slot_row)
        feed[self.live] = tok
        self.slot_row[self.live[done]] = -1
        if bool(done.any()):
            idx = self.compact(self.slot_row >= 0)
            feed = feed if idx is None else feed[idx]
        hidden = self.forward(feed)
        self.live = (self.slot_row >= 0).nonzero().squeeze(-1)
        self.rows = self.slot_row[self.live]
        hidden = hidden if self.live.numel() == hidden.shape[0] else hidden[self.live]
        self.logits = self.head(hidden)
        return self.logits

    def compact(self, alive: torch.Tensor) -> torch.Tensor | None:
        """Shrink the grid to the groups with live samples and C = their most live samples, when that frees at
        least COMPACT_AT of the slots; live slots keep their order. Returns the old slot of each new slot (None
        when the grid is kept)."""
        grid = alive.view(self.groups, self.c)
        counts = grid.sum(1)
        keep = (counts > 0).nonzero().squeeze(-1)
        c = int(counts.max())
        if keep.numel() * c > (1 - COMPACT_AT) * self.groups * self.c:
            return None
        order = torch.sort((~grid).to(torch.uint8), dim=1, stable=True).indices  # live first, stable
        idx = (order[keep, :c] + keep.unsqueeze(1) * self.c).flatten()
        self.slot_row, self.pos = self.slot_row[idx], self.pos[idx]
        for i in range(len(self.kp)):
            self.kp[i], self.vp[i] = self.kp[i][keep], self.vp[i][keep]
            if self.ks[i] is not None:
                flat = self.ks[i].flatten(0, 1)
                self.ks[i] = flat[idx].view(keep.numel(), c, *flat.shape[1:])
                flat = self.vs[i].flatten(0, 1)
                self.vs[i] = flat[idx].view(keep.numel(), c, *flat.shape[1:])
        self.pad = self.pad[keep]
        self.bias = None if self.bias is None else self.bias[keep]
        self.groups, self.c = keep.numel(), c
        return idx

    def forward(self, tok: torch.Tensor) -> torch.Tensor:
        """One token per slot [S] → final hidden states [S, D] (the LM head is applied to live slots only)."""
        inner, s = self.inner, tok.shape[0]
        h = inner.embed_tokens(tok.unsqueeze(1))  # [S, 1, D]
        cos, sin = inner.rotary_emb(h, self.pos.unsqueeze(1))  # [S, 1, d]
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        for i, layer in enumerate(inner.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            q = rotate(attn.q_proj(x).view(s, 1, self.h, self.d).transpose(1, 2), cos, sin)  # [S, H, 1, d]
            k = rotate(attn.k_proj(x).view(s, 1, self.hkv, self.d).transpose(1, 2), cos, sin)
            v = attn.v_proj(x).view(s, self.hkv, self.d)
            o = self.attend(i, q, k.view(s, self.hkv, self.d), v)
            h = h + attn.o_proj(o.reshape(s, 1, self.h * self.d))
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        self.t += 1
        self.pos = self.pos + 1
        return inner.norm(h).squeeze(1)

    def attend(self, i: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Write slot K/V [S, Hkv, d] at position t; attend q [S, H, 1, d] to the group's prompt keys and the slot's
        own sample keys with one softmax → [S, H, d]."""
        g, c, hkv, d, t = self.groups, self.c, self.hkv, self.d, self.t
        rep = self.h // hkv
        if self.ks[i] is None:
            self.ks[i] = k.new_empty(g, c, hkv, self.cap, d)
            self.vs[i] = v.new_empty(g, c, hkv, self.cap, d)
        ks, vs, kp, vp = self.ks[i], self.vs[i], self.kp[i], self.vp[i]
        ks[:, :, :, t] = k.view(g, c, hkv, d)
        vs[:, :, :, t] = v.view(g, c, hkv, d)
        length = kp.shape[2]
        q5 = q.view(g, c, hkv, rep, d)
        qp = q5.transpose(1, 2).reshape(g, hkv, c * rep, d)
        sp = torch.matmul(qp, kp.transpose(-1, -2)) * self.scale  # [G, Hkv, C*rep, L]
        if self.bias is None or self.bias.dtype != sp.dtype:
            self.bias = torch.zeros(self.pad.shape, dtype=sp.dtype, device=sp.device).masked_fill(
                self.pad, torch.finfo(sp.dtype).min).view(g, 1, 1, length)
        sp = (sp + self.bias).view(g, hkv, c, rep, length).transpose(1, 2)  # [G, C, Hkv, rep, L]
        ss = torch.matmul(q5, ks[:, :, :, : t + 1].transpose(-1, -2)) * self.scale  # [G, C, Hkv, rep, t+1]
        p = torch.softmax(torch.cat([sp, ss], dim=-1), dim=-1, dtype=torch.float32).to(vp.dtype)
        pp = p[..., :length].transpose(1, 2).reshape(g, hkv, c * rep, length)
        op = torch.matmul(pp, vp).view(g, hkv, c, rep, d).transpose(1, 2)  # [G, C, Hkv, rep, d]
        o = op + torch.matmul(p[..., length:], vs[:, :, :, : t + 1])
        return o.reshape(g * c, self.h, d)
