"""The default engine: batched sampling on a Hugging Face causal LM with a KV cache.

Each distinct prompt is prefilled once (left-padded batch) and its n samples decode on top of its cache; decoding
stops per row on EOS or a stop string. The model-side state is a decoder from :mod:`credo.engines.kvcache` (the
fast shared-prefix path for Llama-like models, the ``DynamicCache`` reference path otherwise); sampling only ever
draws for the live rows, in row order, so both paths consume the random stream alike.
Rollout log-probs are those of the sampled tokens under softmax(logits / temperature), the distribution the
training forward uses; top-k / top-p only restrict which tokens can be drawn.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from credo.config import SamplingConfig
from credo.engines import ENGINES
from credo.engines.kvcache import make_decoder
from credo.models.device import autocast, model_device
from credo.models.forward import left_pad
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
    ``input_ids`` are the left-padded prompts plus the tokens generated so far, of the rows still running.
    ``fast_decode``: decode Llama-like models with :class:`credo.engines.kvcache.SharedPrefixDecoder` (static
    cache, shared-prefix attention); False forces the reference ``DynamicCache`` path."""

    fast_decode = True

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
        max_new = sampling.max_new_tokens
        dec = make_decoder(self.model, ids, mask, n, max_new, fast=self.fast_decode)
        rows = ids.shape[0] * n
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long, device=dev)
        out_tok = torch.zeros((rows, max_new), dtype=torch.long, device=dev)
        out_lp = torch.zeros((rows, max_new), dtype=torch.float32, device=dev)
        length = torch.zeros(rows, dtype=torch.long, device=dev)
        stopped = torch.zeros(rows, dtype=torch.bool, device=dev)
        texts = [""] * rows
        stops = [s for s in sampling.stop if s]
        longest = max(map(len, stops), default=0)
        temp = max(sampling.temperature, 1e-5)
        logits = dec.logits
        prompt_rows = ids.repeat_interleave(n, 0) if self.logits_processors else None
        for step in range(max_new):
            active = dec.rows  # original row index of each live row, ascending
            if prompt_rows is not None:  # prompts + generated tokens of the live rows
                seq = torch.cat([prompt_rows, out_tok[:, :step]], dim=1)[active]
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
            out_tok[active, step], out_lp[active, step], length[active] = tok, lp, step + 1
            done = torch.isin(tok, eos_ids)
            if stops:  # stop strings need the text: per live row, only when stop strings are set
                done_list = done.tolist()
                for j, (r, t) in enumerate(zip(active.tolist(), tok.tolist())):
                    if not done_list[j]:
                        piece = self._text(t)
                        texts[r] += piece
                        done_list[j] = any(s in texts[r][-(longest + len(piece)):] for s in stops)
                done = torch.tensor(done_list, device=dev)
            stopped[active] = done
            if step == max_new - 1 or bool(done.all()):
                break
            logits = dec.step(tok, done)
        out_tok, out_lp, lens, stopped = out_tok.cpu(), out_lp.cpu(), length.tolist(), stopped.tolist()
        trajs = []
        for r in range(rows):
            p = prompts[r // n]
            resp = out_tok[r, : lens[r]].clone()
            trajs.append(Trajectory(
                prompt_ids=torch.as_tensor(p, dtype=torch.long, device="cpu"), response_ids=resp,
                logprobs=out_lp[r, : lens[r]].clone(),
                loss_mask=torch.ones(len(resp), dtype=torch.float32, device="cpu"),
                versions=torch.full((len(resp),), version, dtype=torch.long, device="cpu"),
                response_text=self.tok.decode(resp, skip_special_tokens=True),
                group_id=r // n, finish_reason="stop" if stopped[r] else "length"))
        return trajs
