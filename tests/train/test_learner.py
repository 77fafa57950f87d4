import copy
import math

import torch

from credo.config import AlgoConfig, SamplingConfig, TrainConfig
from credo.credit import compute_advantages
from credo.engines import ENGINES
from credo.train.learner import Learner


def _batch(model, tok, seed=0):
    torch.manual_seed(seed)
    engine = ENGINES.get("hf")(model, tok)
    prompts = [tok(f"{i} + {i} =")["input_ids"] for i in range(3)]
    trajs = engine.generate(prompts, 4, SamplingConfig(max_new_tokens=5, stop=[]))
    for i, t in enumerate(trajs):
        t.reward = float(i % 3 == 0)
    compute_advantages(trajs, AlgoConfig())
    return trajs


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_micro_batching_gives_the_same_update(tiny_policy):
    model, tok = tiny_policy
    trajs = _batch(model, tok)
    results = []
    for micro in (0, 5):
        m = copy.deepcopy(model)
        Learner(m, tok.pad_token_id, AlgoConfig(), TrainConfig(micro_batch_size=micro), SamplingConfig()).update(
            copy.deepcopy(trajs))
        results.append(_params(m))
    before = _params(model)
    assert any(not torch.equal(a, b) for a, b in zip(before, results[0]))
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6)


def test_non_finite_gradient_skips_the_update(tiny_policy):
    model, tok = tiny_policy
    trajs = _batch(model, tok)
    trajs[0].advantage = float("nan")
    before = _params(model)
    learner = Learner(model, tok.pad_token_id, AlgoConfig(), TrainConfig(), SamplingConfig())
    metrics = learner.update(trajs)
    assert metrics["actor/skipped_updates"] == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, _params(model)))
    assert all(p.grad is None for p in model.parameters())


def test_several_optimizer_steps_use_recomputed_old_logprobs(tiny_policy):
    model, tok = tiny_policy
    trajs = _batch(model, tok)
    learner = Learner(model, tok.pad_token_id, AlgoConfig(), TrainConfig(mini_batches=3, epochs=2, lr=1e-2),
                      SamplingConfig())
    assert learner.recompute_old
    learner.attach_logprobs(trajs)
    for t in trajs:  # before any update, recomputed old log-probs equal the rollout ones
        assert torch.allclose(t.info["old_logprobs"], t.logprobs, atol=1e-5)
    metrics = learner.update(trajs)
    assert learner.sched.last_epoch == 6  # 2 epochs x 3 mini-batches
    assert metrics["actor/ppo_kl"] != 0.0 and math.isfinite(metrics["actor/loss"])


def test_kl_to_reference_is_zero_before_training_and_positive_after(tiny_policy):
    model, tok = tiny_policy
    trajs = _batch(model, tok)
    learner = Learner(model, tok.pad_token_id, AlgoConfig(kl_coef=0.1), TrainConfig(lr=5e-2),
                      SamplingConfig())
    learner.attach_logprobs(trajs)
    first = learner.update(trajs)
    learner.attach_logprobs(trajs)
    second = learner.update(trajs)
    assert abs(first["actor/kl"]) < 1e-3 < second["actor/kl"]
