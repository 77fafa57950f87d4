"""The default engine: batched sampling on a Hugging Face causal LM with a KV cache.

Each distinct prompt is prefilled once (left-padded batch) and its cache is repeated for the n samples; decoding
stops per row on EOS or a stop string, and finished rows are dropped from the batch so they cost no more FLOPs.
Rollout log-probs are those of the sampled tokens under softmax(logits / temperature), the distribution the
training forward uses; top-k / top-p only restrict which tokens can be drawn.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from credo.config import SamplingConfig
from credo.engines import ENGINES
from credo.models.device import autocast, model_device
from credo.models.forward import left_pad, prefill
from credo.models.lora import activate
from credo.trajectory import Trajectory


def _filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True, dim=-1)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
        drop = cum - torch.softmax(sorted_logits, dim=-1) > top_p  # keep the smallest set reaching top_p
        logits = logits.masked_fill(drop.scatter(-1, idx, drop), float("-inf"))
    return logits


@ENGINES.register("hf")
class HFEngine:
    """Generation on the model's own device. ``mixed_precision`` (no | bf16 | fp16) autocasts the forwards;
    ``adapter`` names the LoRA adapter activated before generating (agents sharing one base model).
    ``logits_processors``: callables ``(input_ids [B, L], logits [B, V]) -> logits`` applied in order to each step's
    next-token logits before temperature and filtering (e.g. ARM guidance, ``credo.arm.build_processor``);
    ``input_ids`` are the left-padded prompts plus the tokens generated so far, of the rows still running."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, mixed_precision: str = "no",
                 adapter: str | None = None, logits_processors: list | None = None, config=None):
        self.model, self.tok = model, tokenizer
        self.logits_processors = list(logits_processors or [])
        self.mixed_precision, self.adapter = mixed_precision, adapter
        self.pad_id = tokenizer.pad_token_id
        eos = model.generation_config.eos_token_id if model.generation_config else None
        eos = eos if eos is not None else tokenizer.eos_token_id
        self.eos_ids = sorted(set(eos if isinstance(eos, list) else [eos]))
        self._piece: dict[int, str] = {}

    def sync_weights(self, version: int) -> None:
        """Nothing to do: the engine samples from the trainer's own model."""

    def _text(self, token: int) -> str:
        s = self._piece.get(token)
        if s is None:
            s = self._piece[token] = self.tok.decode([token])
        return s

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], n: int, sampling: SamplingConfig, version: int = 0,
                 greedy: bool = False) -> list[Trajectory]:
        was_training = self.model.training
        self.model.eval()
        activate(self.model, self.adapter)
        dev = model_device(self.model)
        try:
            with autocast(dev, self.mixed_precision):
                return self._generate(prompts, n, sampling, version, greedy, dev)
        finally:
            self.model.train(was_training)

    def _generate(self, prompts, n, sampling, version, greedy, dev):
        ids, mask = left_pad(prompts, self.pad_id, dev)
        logits, cache = prefill(self.model, ids, mask)
        rows = ids.shape[0] * n
        rep = torch.arange(ids.shape[0], device=dev).repeat_interleave(n)
        cache.batch_repeat_interleave(n)
        logits, mask = logits[rep], mask[rep]
        pos = mask.sum(-1, keepdim=True)  # next position id per row
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long, device=dev)
        active = torch.arange(rows, device=dev)  # original row index of each live cache row
        out_tok: list[list[int]] = [[] for _ in range(rows)]
        out_lp: list[list[float]] = [[] for _ in range(rows)]
        texts = [""] * rows
        finish = ["length"] * rows
        stops = [s for s in sampling.stop if s]
        longest = max(map(len, stops), default=0)
        temp = max(sampling.temperature, 1e-5)
        seq = ids[rep] if self.logits_processors else None  # prompts + generated tokens of the live rows
        for step in range(sampling.max_new_tokens):
            for proc in self.logits_processors:
                logits = proc(seq, logits)
            scaled = logits.float() / temp
            logp = torch.log_softmax(scaled, dim=-1)
            if greedy:
                tok = scaled.argmax(-1)
            else:
                probs = torch.softmax(_filter_logits(scaled, sampling.top_k, sampling.top_p), dim=-1)
                tok = torch.multinomial(probs, 1).squeeze(-1)
            lp = logp.gather(-1, tok.unsqueeze(-1)).squeeze(-1)
            done = torch.isin(tok, eos_ids)
            done_list = done.tolist()
            for j, (r, t, lp_j) in enumerate(zip(active.tolist(), tok.tolist(), lp.tolist())):
                out_tok[r].append(t)
                out_lp[r].append(lp_j)
                if done_list[j]:
                    finish[r] = "stop"
                elif stops:
                    piece = self._text(t)
                    texts[r] += piece
                    tail = texts[r][-(longest + len(piece)):]
                    if any(s in tail for s in stops):
                        done_list[j] = True
                        finish[r] = "stop"
            done = torch.tensor(done_list, device=dev)
            if step == sampling.max_new_tokens - 1:
                break
            keep = (~done).nonzero().squeeze(-1)
            if keep.numel() == 0:
                break
            if seq is not None:
                seq = torch.cat([seq, tok.unsqueeze(-1)], dim=1)
            if keep.numel() < active.numel():
                cache.batch_select_indices(keep)
                active, tok, mask, pos = active[keep], tok[keep], mask[keep], pos[keep]
                seq = seq[keep] if seq is not None else None
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            out = self.model(input_ids=tok.unsqueeze(-1), attention_mask=mask, position_ids=pos,
                             cache=cache, use_cache=True)
            cache, logits, pos = out.past_key_values, out.logits[:, -1, :], pos + 1
        trajs = []
        for r in range(rows):
            p = prompts[r // n]
            resp = torch.tensor(out_tok[r], dtype=torch.long, device="cpu")
            trajs.append(Trajectory(
                prompt_ids=torch.as_tensor(p, dtype=torch.long, device="cpu"), response_ids=resp,
                logprobs=torch.tensor(out_lp[r], dtype=torch.float32, device="cpu"),
                loss_mask=torch.ones(len(resp), dtype=torch.float32, device="cpu"),
                versions=torch.full((len(resp),), version, dtype=torch.long, device="cpu"),
                response_text=self.tok.decode(resp, skip_special_tokens=True),
                group_id=r // n, finish_reason=finish[r]))
        return trajs
