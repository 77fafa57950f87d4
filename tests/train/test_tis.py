"""Log-prob mismatch metric and truncated importance sampling (algo.tis_cap), engine-independent, on CPU."""

import copy
import math

import fake_engine  # noqa: I001  (registers "fake" and "fake_offset")
import pytest
import torch

from credo.config import AlgoConfig, SamplingConfig, TrainConfig, load_config
from credo.credit import compute_advantages
from credo.engines import ENGINES
from credo.train.learner import Learner, truncated_is
from credo.train.rl import RLTrainer


def test_truncated_is_against_hand_values():
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]])
    old = torch.tensor([[-1.0, -1.0, -1.0], [-2.0, -2.0, 0.0]])
    eng = torch.tensor([[-1.5, -1.0, -0.2], [-2.0, -3.0, -7.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    out, m = truncated_is(loss, old, eng, mask, cap=1.5)
    # old - engine = [[0.5, 0, -0.8], [0, 1, masked]]; weights min(e^d, 1.5) = [[1.5, 1, e^-0.8], [1, 1.5]]
    w08 = math.exp(-0.8)
    assert out[0].tolist() == pytest.approx([1.5, 2.0, 3.0 * w08])
    assert out[1, :2].tolist() == pytest.approx([4.0, 7.5])
    assert m["rollout/logprob_diff_mean"] == pytest.approx((0.5 + 0.8 + 1.0) / 5)
    assert m["rollout/tis_capped_frac"] == pytest.approx(2 / 5)
    assert m["rollout/tis_weight_mean"] == pytest.approx((1.5 + 1 + w08 + 1 + 1.5) / 5)
    same, m0 = truncated_is(loss, old, eng, mask, cap=0.0)
    assert torch.equal(same, loss) and set(m0) == {"rollout/logprob_diff_mean"}


def _grad(model, tok, trajs, cap):
    m = copy.deepcopy(model)
    learner = Learner(m, tok.pad_token_id, AlgoConfig(tis_cap=cap), TrainConfig(lr=1e-3), SamplingConfig())
    seen = {}
    step = learner.step

    def record():
        seen["g"] = torch.cat([p.grad.reshape(-1).clone() for p in m.parameters() if p.grad is not None])
        return step()

    learner.step = record
    return seen, learner.update(copy.deepcopy(trajs))


def test_capped_weights_scale_the_gradient(tiny_policy):
    """The fake engine reports log-probs 0.5 nats below the trainer's: every weight e^0.5 > cap = 1.2 is capped, so
    the token-mean gradient is exactly 1.2 times the uncorrected one."""
    model, tok = tiny_policy
    torch.manual_seed(0)
    prompts = [tok(f"{i} + 1 =")["input_ids"] for i in range(2)]
    trajs = ENGINES.get("fake_offset")(model, tok).generate(prompts, 4, SamplingConfig(max_new_tokens=4, stop=[]))
    for i, t in enumerate(trajs):
        t.reward = float(i % 2)
    compute_advantages(trajs, AlgoConfig())
    plain, m_plain = _grad(model, tok, trajs, 0.0)
    tis, m_tis = _grad(model, tok, trajs, 1.2)
    assert float(plain["g"].abs().max()) > 1e-4
    assert float((tis["g"] - 1.2 * plain["g"]).abs().max()) < 1e-6 * float(plain["g"].abs().max()), \
        float((tis["g"] - 1.2 * plain["g"]).abs().max())
    assert m_plain["rollout/logprob_diff_mean"] == pytest.approx(fake_engine.OFFSET, abs=1e-4)
    assert m_tis["rollout/tis_capped_frac"] == 1.0 and m_tis["rollout/tis_weight_mean"] == pytest.approx(1.2)


TINY = ["train.steps=1", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4",
        "model.hidden_size=32", "model.num_layers=1", "model.intermediate_size=64", "task.size=8", "task.eval_size=2",
        "eval.size=2", "eval.pass_k=0", "log.tensorboard=false", "log.progress=false", "log.report=false",
        "train.device=cpu"]


@pytest.mark.parametrize("kind,gap", [("hf", 0.0), ("fake_offset", fake_engine.OFFSET)])
def test_trainer_measures_the_engine_gap(kind, gap, tmp_path):
    cfg = load_config(None, TINY + [f"engine.kind={kind}", "algo.tis_cap=2.0", f"log.output_dir={tmp_path}"])
    trainer = RLTrainer(cfg)
    metrics = trainer.train_step()
    assert metrics["rollout/logprob_diff_mean"] == pytest.approx(gap, abs=1e-4)
    assert metrics["rollout/tis_weight_mean"] == pytest.approx(math.exp(gap), abs=1e-3)  # e^0.5 < cap 2
    if kind == "fake_offset":
        assert trainer.engine.synced == [1]  # weights pushed after the update
