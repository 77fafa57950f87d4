import torch

from credo.config import SamplingConfig
from credo.engines import ENGINES
from credo.models.forward import response_logits, right_pad, token_logprobs


def test_generate_shapes_logprobs_and_grouping(tiny_policy):
    model, tok = tiny_policy
    engine = ENGINES.get("hf")(model, tok)
    prompts = [tok("1 + 2 =")["input_ids"], tok("a longer prompt here")["input_ids"]]
    torch.manual_seed(0)
    trajs = engine.generate(prompts, 3, SamplingConfig(max_new_tokens=6, stop=[]), version=7)
    assert len(trajs) == 6 and [t.group_id for t in trajs] == [0, 0, 0, 1, 1, 1]
    for t in trajs:
        assert t.num_tokens == len(t.logprobs) == len(t.loss_mask) and 1 <= t.num_tokens <= 6
        assert torch.all(t.versions == 7) and t.finish_reason in ("stop", "length")
        assert (t.finish_reason == "stop") == (t.response_ids[-1].item() == tok.eos_token_id)
    # rollout log-probs equal the training forward's at the same temperature
    logits, mask = response_logits(model, [t.prompt_ids for t in trajs], [t.response_ids for t in trajs],
                                   tok.pad_token_id)
    lp = token_logprobs(logits, right_pad([t.response_ids for t in trajs], 0, torch.long))
    ref = right_pad([t.logprobs for t in trajs], 0.0, torch.float32)
    assert torch.allclose(lp * mask, ref, atol=1e-5)


def test_temperature_logprobs_and_stop_strings(tiny_policy):
    model, tok = tiny_policy
    engine = ENGINES.get("hf")(model, tok)
    prompt = [tok("x")["input_ids"]]
    torch.manual_seed(1)
    trajs = engine.generate(prompt, 8, SamplingConfig(max_new_tokens=12, temperature=0.7, stop=["e", "a"]))
    logits, _ = response_logits(model, [t.prompt_ids for t in trajs], [t.response_ids for t in trajs],
                                tok.pad_token_id)
    lp = token_logprobs(logits, right_pad([t.response_ids for t in trajs], 0, torch.long), temperature=0.7)
    for i, t in enumerate(trajs):
        assert torch.allclose(lp[i, : t.num_tokens], t.logprobs, atol=1e-5)
        if t.response_ids[-1] == tok.eos_token_id:
            continue
        text = tok.decode(t.response_ids)
        hit = [k for k, ch in enumerate(text) if ch in "ea"]
        if hit:  # cut right after the first stop string
            assert t.finish_reason == "stop" and hit[0] == len(text) - 1
        else:
            assert t.finish_reason == "length" and t.num_tokens == 12


def test_greedy_is_deterministic_and_finished_rows_stop(tiny_policy):
    model, tok = tiny_policy
    engine = ENGINES.get("hf")(model, tok)
    prompts = [tok("3 + 4 =")["input_ids"]]
    a = engine.generate(prompts, 2, SamplingConfig(max_new_tokens=8), greedy=True)
    b = engine.generate(prompts, 2, SamplingConfig(max_new_tokens=8), greedy=True)
    assert all(torch.equal(x.response_ids, y.response_ids) for x, y in zip(a, b))
    assert torch.equal(a[0].response_ids, a[1].response_ids)
