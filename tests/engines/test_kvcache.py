"""The fast decoder (static cache, shared-prefix attention) against the reference DynamicCache path.

Same seed, same prompts: the sampled tokens must be identical and the rollout log-probs equal to 2e-5 (the two paths
compute attention in a different order, so logits differ by float rounding, ~1e-6 here). Finish reasons and lengths
must match too, so compaction of finished rows and the random stream (sampling draws for the live rows only) are
checked along the way.
"""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from credo.config import SamplingConfig
from credo.engines import ENGINES
from credo.engines.kvcache import ReferenceDecoder, SharedPrefixDecoder, make_decoder, supports_fast
from credo.models.forward import left_pad

TOL = 2e-5


def both(engine, prompts, n, sampling, seed, greedy=False):
    """(fast, reference) trajectories from the same seed; both must leave the random stream in the same state."""
    out, after = [], []
    for fast in (True, False):
        engine.fast_decode = fast
        torch.manual_seed(seed)
        out.append(engine.generate(prompts, n, sampling, greedy=greedy))
        after.append(torch.rand(4))
    assert torch.equal(*after)
    return out


def assert_same(fast, ref):
    assert len(fast) == len(ref)
    for a, b in zip(fast, ref):
        assert torch.equal(a.response_ids, b.response_ids)
        assert a.finish_reason == b.finish_reason and a.group_id == b.group_id
        assert torch.allclose(a.logprobs, b.logprobs, atol=TOL, rtol=0)


def random_llama(**kw):
    """A tiny random Llama with grouped-query attention (4 query heads on 2 K/V heads), vocab 64, EOS 2."""
    torch.manual_seed(3)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256, pad_token_id=0,
                      bos_token_id=1, eos_token_id=2, **kw)
    return LlamaForCausalLM(cfg).eval()


class IdTokenizer:
    """The engine needs pad/eos ids and decode; token ids stand for themselves."""
    pad_token_id, eos_token_id = 0, 2

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(str(int(i)) for i in ids)


def test_embedded_fast_equals_reference_with_eos_and_compaction(tiny_policy):
    model, tok = tiny_policy
    engine = ENGINES.get("hf")(model, tok)
    assert supports_fast(model, 100)
    prompts = [tok("1 + 2 =")["input_ids"], tok("a longer prompt here")["input_ids"], tok("x")["input_ids"]]
    fast, ref = both(engine, prompts, 4, SamplingConfig(max_new_tokens=40, stop=[]), seed=0)
    assert_same(fast, ref)
    # the random model emits EOS now and then: some rows stop early, others run to the cap
    assert {t.finish_reason for t in ref} == {"stop", "length"}
    torch.manual_seed(5)
    fast2 = engine.generate(prompts, 4, SamplingConfig(max_new_tokens=40, stop=[]))
    assert any(not torch.equal(a.response_ids, b.response_ids) for a, b in zip(fast, fast2))  # the seed matters


def test_embedded_stop_strings_top_k_top_p_temperature_and_greedy(tiny_policy):
    model, tok = tiny_policy
    engine = ENGINES.get("hf")(model, tok)
    prompts = [tok("3 + 4 =")["input_ids"], tok("hello")["input_ids"]]
    s = SamplingConfig(max_new_tokens=24, temperature=0.7, top_k=20, top_p=0.9, stop=["e", "7"])
    fast, ref = both(engine, prompts, 5, s, seed=1)
    assert_same(fast, ref)
    assert any(t.finish_reason == "stop" for t in ref)
    fast, ref = both(engine, prompts, 2, SamplingConfig(max_new_tokens=16, stop=[]), seed=0, greedy=True)
    assert_same(fast, ref)


@pytest.mark.parametrize("kw", [{}, {"attention_bias": True, "rope_theta": 100.0}])
def test_random_llama_gqa_fast_equals_reference(kw):
    model = random_llama(**kw)
    engine = ENGINES.get("hf")(model, IdTokenizer())
    assert supports_fast(model, 200)
    prompts = [[1, 5, 9, 11, 13, 40], [1, 7], [1, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 50]]
    fast, ref = both(engine, prompts, 8, SamplingConfig(max_new_tokens=60, stop=[]), seed=2)
    assert_same(fast, ref)
    assert {t.finish_reason for t in ref} == {"stop", "length"}


def test_qwen2_is_covered_and_unknown_architectures_fall_back():
    torch.manual_seed(0)
    q = Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                     num_key_value_heads=2, intermediate_size=64, eos_token_id=2)).eval()
    assert supports_fast(q, 100)
    engine = ENGINES.get("hf")(q, IdTokenizer())
    fast, ref = both(engine, [[1, 4, 5], [1, 9]], 3, SamplingConfig(max_new_tokens=20, stop=[]), seed=4)
    assert_same(fast, ref)
    ids, mask = left_pad([[1, 4, 5]], 0)
    gpt2 = type("Cfg", (), {"model_type": "gpt2"})
    fake = torch.nn.Module()
    fake.config = gpt2
    assert not supports_fast(fake, 10)
    assert isinstance(make_decoder(q, ids, mask, 2, 8, fast=False), ReferenceDecoder)
    assert isinstance(make_decoder(q, ids, mask, 2, 8), SharedPrefixDecoder)


def test_compaction_shrinks_the_grid_and_keeps_row_order():
    model = random_llama()
    ids, mask = left_pad([[1, 5, 6], [1, 7], [1, 8, 9, 10]], 0)
    with torch.no_grad():
        dec = SharedPrefixDecoder(model, ids, mask, 4, 10)
        tok = torch.full((12,), 5)
        done = torch.zeros(12, dtype=torch.bool)
        done[[0, 1, 2, 3, 5]] = True  # group 0 entirely, one of group 1: 5 of 12 slots free, grid 2 x 4 -> 8 slots
        dec.step(tok, done)
        assert (dec.groups, dec.c) == (2, 4) and dec.rows.tolist() == [4, 6, 7, 8, 9, 10, 11]
        dec.step(tok[:7], torch.tensor([False, False, False, True, True, True, False]))  # only rows 4,6,7,11 live
        assert (dec.groups, dec.c) == (2, 3) and dec.rows.tolist() == [4, 6, 7, 11]
        assert dec.logits.shape == (4, 64)
