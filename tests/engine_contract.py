"""The contract every generation engine passes (see ``credo.engines``), as a reusable pytest suite.

Subclass :class:`EngineContract` in a test module and give it a fixture ``engine_case`` returning
``(engine, model, tokenizer)`` where ``model`` is the trainer's policy the engine samples from (for an engine that
holds its own copy, the same weights). Class attributes set the tolerances: ``logprob_atol`` (max |engine - trainer|
per token; float32 engines agree to rounding, bf16 ones to a few 1e-2).
"""

from __future__ import annotations

import pytest
import torch

from credo.config import SamplingConfig
from credo.models.forward import response_logits, token_logprobs

STOPS = list("abcdefghijklmnopqrstuvwxyz0123456789")  # a random character model hits one within a few tokens


def trainer_logprobs(model, trajs, pad_id: int, temperature: float) -> list[torch.Tensor]:
    """The trainer's log-probs of each trajectory's response tokens (one forward, as the learner computes them)."""
    with torch.no_grad():
        was = model.training
        model.eval()
        logits, _ = response_logits(model, [t.prompt_ids for t in trajs], [t.response_ids for t in trajs], pad_id)
        model.train(was)
    toks = torch.nn.utils.rnn.pad_sequence([t.response_ids for t in trajs], batch_first=True,
                                           padding_value=pad_id).to(logits.device)
    lp = token_logprobs(logits, toks, temperature).cpu()
    return [lp[i, : t.num_tokens] for i, t in enumerate(trajs)]


class EngineContract:
    logprob_atol = 1e-4

    @pytest.fixture()
    def prompts(self, engine_case):
        _, _, tok = engine_case
        return [tok(f"{i} + {2 * i} =")["input_ids"] for i in range(3)]

    def test_layout_of_n_samples_per_prompt(self, engine_case, prompts):
        engine, _, _ = engine_case
        sampling = SamplingConfig(max_new_tokens=6, stop=[])
        torch.manual_seed(0)
        trajs = engine.generate(prompts, 3, sampling, version=7)
        assert len(trajs) == 9
        for i, t in enumerate(trajs):
            assert t.group_id == i // 3
            assert t.prompt_ids.tolist() == list(prompts[i // 3])
            assert 1 <= t.num_tokens <= 6
            assert t.logprobs.shape == t.response_ids.shape == t.loss_mask.shape == t.versions.shape
            assert bool((t.logprobs <= 0).all()) and bool((t.versions == 7).all())
            assert t.finish_reason in ("stop", "length")
            if t.finish_reason == "length":
                assert t.num_tokens == 6
        assert any(t.finish_reason == "length" for t in trajs)
        groups = [[tuple(t.response_ids.tolist()) for t in trajs[3 * g:3 * g + 3]] for g in range(3)]
        assert any(len(set(g)) > 1 for g in groups)  # the n samples of a prompt are drawn independently

    @pytest.mark.parametrize("temperature", [1.0, 0.7])
    def test_logprobs_match_the_trainer_forward(self, engine_case, prompts, temperature):
        engine, model, tok = engine_case
        sampling = SamplingConfig(max_new_tokens=8, stop=[], temperature=temperature)
        torch.manual_seed(1)
        trajs = engine.generate(prompts, 2, sampling)
        ref = trainer_logprobs(model, trajs, tok.pad_token_id, temperature)
        gap = max(float((t.logprobs - r).abs().max()) for t, r in zip(trajs, ref))
        assert gap <= self.logprob_atol, gap

    def test_stop_strings_end_the_response(self, engine_case, prompts):
        engine, _, tok = engine_case
        torch.manual_seed(2)
        trajs = engine.generate(prompts, 4, SamplingConfig(max_new_tokens=12, stop=STOPS))
        special = set(tok.all_special_ids)  # a response ending in EOS (or another end token) stopped there
        stopped = [t for t in trajs if t.finish_reason == "stop" and int(t.response_ids[-1]) not in special]
        assert stopped  # some responses hit a stop string
        for t in stopped:
            text = tok.decode(t.response_ids, skip_special_tokens=True)
            head = tok.decode(t.response_ids[:-1], skip_special_tokens=True)
            assert any(s in text for s in STOPS) and not any(s in head for s in STOPS), text
        for t in trajs:
            if t.finish_reason == "length":
                assert t.num_tokens == 12

    def test_same_seed_same_samples(self, engine_case, prompts):
        engine, _, _ = engine_case
        sampling = SamplingConfig(max_new_tokens=6, stop=[])

        def draw(seed):
            torch.manual_seed(seed)
            return [t.response_ids.tolist() for t in engine.generate(prompts, 2, sampling)]

        a, b, c = draw(3), draw(3), draw(4)
        assert a == b
        assert a != c

    def test_greedy_takes_the_argmax(self, engine_case, prompts):
        engine, model, tok = engine_case
        trajs = engine.generate(prompts, 2, SamplingConfig(max_new_tokens=5, stop=[]), greedy=True)
        assert [t.response_ids.tolist() for t in trajs[0::2]] == [t.response_ids.tolist() for t in trajs[1::2]]
        with torch.no_grad():
            model.eval()
            logits, _ = response_logits(model, [t.prompt_ids for t in trajs], [t.response_ids for t in trajs],
                                        tok.pad_token_id)
            model.train()
        for i, t in enumerate(trajs):
            assert logits[i, : t.num_tokens].argmax(-1).cpu().tolist() == t.response_ids.tolist()

    def test_sync_weights_serves_the_updated_policy(self, engine_case, prompts):
        engine, model, tok = engine_case
        sampling = SamplingConfig(max_new_tokens=6, stop=[])
        params = [p for p in model.parameters() if p.requires_grad]
        saved = [p.detach().clone() for p in params]
        try:
            torch.manual_seed(5)
            before = engine.generate(prompts, 2, sampling)
            with torch.no_grad():  # an "update": every trainable weight moves
                for p in params:
                    p.add_(0.1 * torch.randn_like(p))
            engine.sync_weights(1)
            after = engine.generate(prompts, 2, sampling, version=1)
            gap = max(float((t.logprobs - r).abs().max())
                      for t, r in zip(after, trainer_logprobs(model, after, tok.pad_token_id, 1.0)))
            assert gap <= self.logprob_atol, gap
            moved = max(float((t.logprobs - r).abs().max())
                        for t, r in zip(before, trainer_logprobs(model, before, tok.pad_token_id, 1.0)))
            assert moved > 10 * self.logprob_atol, moved  # the update changed the policy (else this test is vacuous)
        finally:
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)
