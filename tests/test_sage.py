"""SAGE sampler: the confident stop on a hand-built bigram model whose stop distribution is known in closed form,
Φ vs ϕ ranking, the top-k stop rule, logits processors, and the registry entries on the embedded model."""

import math

import pytest
import torch
from sage_toy import ID, ToyLM, ToyTokenizer, patch_prefill

from credo.config import ConfigError, SageConfig, SamplingConfig
from credo.engines.hf import HFEngine
from credo.engines.sage import Chain, check_stops, select_round
from credo.engines.samplers import SAMPLERS

# q -> "a|" (0.7) or end of thinking "#" (0.3); after a step "|": another "a|" (0.6) or "#" (0.4); "#x<eos>" answers.
TABLE = {"q": {"a": 0.7, "#": 0.3}, "a": {"|": 1.0}, "|": {"a": 0.6, "#": 0.4}, "#": {"x": 1.0}, "x": {"<eos>": 1.0}}


def toy_engine(monkeypatch, table=TABLE):
    patch_prefill(monkeypatch)
    return HFEngine(ToyLM(table), ToyTokenizer())


def run_sage(engine, n_prompts, sage, r=1, seed=0):
    torch.manual_seed(seed)
    sampling = SamplingConfig(n=1, max_new_tokens=32, stop=[])
    return SAMPLERS.get("sage")(engine, [[ID["q"]]] * n_prompts, r, sampling, sage)


def test_confident_stop_matches_closed_form(monkeypatch):
    # m = 1 (2 samples per round), h = 1, T_max = 3. Φ of the candidates, by hand:
    #   round 1: "a|" = ln .7 / 2 = -0.178 beats "#" = ln .3 = -1.204  -> "#" accepted only if both samples are "#"
    #   round 2: "a|a|" = (ln .7 + ln .6) / 4 = -0.217 beats "a|#" = (ln .7 + ln .4) / 3 = -0.424 -> p(both "#") = .16
    #   round 3: "a|a|a|" = -0.230 beats "a|a|#" = -0.357                                        -> again .16
    #   then the best chain "a|a|a|" is forced to stop.
    expected = {"#x": 0.09, "a|#x": 0.91 * 0.16, "a|a|#x": 0.91 * 0.84 * 0.16, "a|a|a|#x": 0.91 * 0.84 * 0.84}
    n = 3000
    sage = SageConfig(width=1, tolerance=1, max_steps=3, delimiter="|", end_think="#")
    trajs = run_sage(toy_engine(monkeypatch), n, sage)
    assert len(trajs) == n and all(t.info["source"] == "sage" and t.finish_reason == "stop" for t in trajs)
    texts = [t.response_text for t in trajs]
    assert set(texts) <= set(expected)
    for text, p in expected.items():
        freq = texts.count(text) / n
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / n), (text, freq, p)
    # the policy's log-probs of every token, including the forced "#" that was never sampled
    forced = next(t for t in trajs if t.response_text == "a|a|a|#x")
    want = [math.log(0.7), 0, math.log(0.6), 0, math.log(0.6), 0, math.log(0.4), 0, 0]
    assert forced.logprobs.tolist() == pytest.approx(want, abs=1e-5)
    assert forced.info["think_tokens"] == 7 and forced.info["sage_steps"] == 3


def test_tolerance_two_accepts_second_ranked_stop(monkeypatch):
    # h = 2 with m = 1: a "#" candidate is accepted whenever it is sampled (it ranks at worst second of two),
    # so p(stop in round 1) = 1 - .7^2 = .51.
    n = 2000
    trajs = run_sage(toy_engine(monkeypatch), n, SageConfig(width=1, tolerance=2, max_steps=3, delimiter="|",
                                                           end_think="#"))
    freq = sum(t.response_text == "#x" for t in trajs) / n
    assert abs(freq - 0.51) < 4 * math.sqrt(0.51 * 0.49 / n)


def test_phi_and_token_ranking_pick_different_chains():
    # chain A: confident steps, a shaky last token; chain B: one shaky early token, a confident last token.
    a = Chain(tokens=[3, 7, 4], scores=[-0.1, -0.1, -2.0], last=-2.0)  # Φ = -0.733, ϕ = -2.0
    b = Chain(tokens=[3, 4], scores=[-1.5, -0.2], last=-0.2)  # Φ = -0.85, ϕ = -0.2
    by_chain = select_round([a, b], SageConfig(width=1, rank="chain"), [])[1]
    by_token = select_round([a, b], SageConfig(width=1, rank="token"), [])[1]
    assert by_chain == [a] and by_token == [b]


def test_topk_stop_rule_closes_chains_where_end_think_was_likely(monkeypatch):
    # after "a": "|" (.6) or "#" (.4). With stop_top_k = 2, "#" is within the top 2 where "|" was drawn, so that
    # step is closed with an appended "#" (policy log-prob ln .25 after "|") and accepted: no chain goes on.
    table = {"q": {"a": 1.0}, "a": {"|": 0.6, "#": 0.4}, "|": {"#": 0.25, "a": 0.75}, "#": {"x": 1.0},
             "x": {"<eos>": 1.0}}
    trajs = run_sage(toy_engine(monkeypatch, table), 200, SageConfig(width=1, max_steps=4, delimiter="|",
                                                                    end_think="#", stop_rule="topk", stop_top_k=2))
    assert {t.response_text for t in trajs} <= {"a#x", "a|#x"}
    closed = [t for t in trajs if t.response_text == "a|#x"]
    assert closed and all(t.logprobs[2].item() == pytest.approx(math.log(0.25)) for t in closed)
    # "a|" (Φ = ln .6 / 2) outranks "a#" (Φ = ln .4 / 2): when both appear, the closed "a|#" is returned
    assert len(closed) / len(trajs) > 0.7  # p = 1 - .4^2 = .84


def test_logits_processor_is_honoured_and_logprobs_stay_the_policys(monkeypatch):
    engine = toy_engine(monkeypatch)

    def no_stop(ids, logits):
        assert ids.shape[0] == logits.shape[0] and ids[:, -1].ge(0).all()
        return logits.index_fill(-1, torch.tensor([ID["#"]], device=logits.device), -1e9)

    engine.logits_processors = [no_stop]
    trajs = run_sage(engine, 50, SageConfig(width=1, max_steps=2, delimiter="|", end_think="#"))
    assert {t.response_text for t in trajs} == {"a|a|#x"}  # "#" is never drawn; the budget forces the stop
    want = [math.log(0.7), 0, math.log(0.6), 0, math.log(0.4), 0, 0]
    assert trajs[0].logprobs.tolist() == pytest.approx(want, abs=1e-5)


def test_several_completions_per_prompt_best_phi_first(monkeypatch):
    trajs = run_sage(toy_engine(monkeypatch), 20, SageConfig(width=2, tolerance=4, max_steps=3, delimiter="|",
                                                            end_think="#"), r=2)
    assert len(trajs) == 40
    for i in range(20):
        pair = trajs[2 * i:2 * i + 2]
        assert pair[0].info["sage_phi"] >= pair[1].info["sage_phi"]


def test_delimiter_containing_a_stop_string_is_refused():
    with pytest.raises(ConfigError, match="sage.delimiter"):
        check_stops(SageConfig(delimiter="\n\n"), SamplingConfig(stop=["\n"]))


def test_registry_samplers_on_the_embedded_model(tiny_policy):
    model, tok = tiny_policy
    engine = HFEngine(model, tok)
    sampling = SamplingConfig(n=2, max_new_tokens=12, stop=[])
    prompts = [tok("1+2=")["input_ids"], tok("3+4=")["input_ids"]]
    sage = SageConfig(width=2, max_steps=3, delimiter=" ", end_think="=")
    for name in ("sample", "greedy", "sage"):
        torch.manual_seed(0)
        trajs = SAMPLERS.get(name)(engine, prompts, 2, sampling, sage)
        assert len(trajs) == 4 and all(t.info["source"] == name for t in trajs)
        assert all(0 < t.num_tokens <= 12 and t.logprobs.shape == t.response_ids.shape for t in trajs)
        assert all(bool((t.logprobs <= 0).all()) for t in trajs)


def test_hf_engine_honours_logits_processors(tiny_policy):
    model, tok = tiny_policy
    engine = HFEngine(model, tok)
    forced = tok("7", add_special_tokens=False)["input_ids"][0]

    def only_seven(ids, logits):
        out = torch.full_like(logits, -1e9)
        out[:, forced] = 0.0
        return out

    engine.logits_processors = [only_seven]
    sampling = SamplingConfig(n=3, max_new_tokens=5, stop=[])
    trajs = SAMPLERS.get("sample")(engine, [tok("1+2=")["input_ids"]], 3, sampling)
    assert all(t.response_ids.tolist() == [forced] * 5 for t in trajs)
