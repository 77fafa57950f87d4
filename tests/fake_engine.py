"""A second, independent implementation of the engine contract (registered as ``fake``): it re-runs the whole
sequence for every token (no KV cache, one row at a time). ``fake_offset`` reports log-probs lowered by
``OFFSET`` nats: an engine whose numerics differ from the trainer's, for the mismatch metric and TIS tests."""

from __future__ import annotations

import torch

from credo.engines import ENGINES
from credo.models.device import model_device
from credo.trajectory import Trajectory

OFFSET = 0.5


@ENGINES.register("fake")
class FakeEngine:
    logprob_offset = 0.0

    def __init__(self, model, tokenizer, mixed_precision: str = "no", adapter=None, config=None):
        self.model, self.tok = model, tokenizer
        self.synced: list[int] = []

    def sync_weights(self, version: int) -> None:
        self.synced.append(version)

    @torch.no_grad()
    def generate(self, prompts, n, sampling, version: int = 0, greedy: bool = False) -> list[Trajectory]:
        was = self.model.training
        self.model.eval()
        dev = model_device(self.model)
        out = []
        for i, prompt in enumerate(prompts):
            for _ in range(n):
                seq, toks, lps, finish = list(prompt), [], [], "length"
                for _ in range(sampling.max_new_tokens):
                    logits = self.model(input_ids=torch.tensor([seq], device=dev)).logits[0, -1].float()
                    logp = torch.log_softmax(logits / sampling.temperature, -1)
                    tok = int(logp.argmax()) if greedy else int(torch.multinomial(logp.exp(), 1))
                    seq.append(tok)
                    toks.append(tok)
                    lps.append(float(logp[tok]) - self.logprob_offset)
                    if tok == self.tok.eos_token_id or any(s in self.tok.decode(toks) for s in sampling.stop):
                        finish = "stop"
                        break
                resp = torch.tensor(toks, dtype=torch.long, device="cpu")
                out.append(Trajectory(
                    prompt_ids=torch.tensor(prompt, dtype=torch.long, device="cpu"), response_ids=resp,
                    logprobs=torch.tensor(lps, dtype=torch.float32, device="cpu"),
                    loss_mask=torch.ones(len(toks), dtype=torch.float32, device="cpu"),
                    versions=torch.full((len(toks),), version, dtype=torch.long, device="cpu"),
                    response_text=self.tok.decode(toks, skip_special_tokens=True), group_id=i, finish_reason=finish))
        self.model.train(was)
        return out


@ENGINES.register("fake_offset")
class OffsetFakeEngine(FakeEngine):
    logprob_offset = OFFSET
