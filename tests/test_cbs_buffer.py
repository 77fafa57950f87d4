"""CBS rollout buffer (FIFO, age, usage, checkpoint) and the 10 rollout features, against hand-computed values."""

import math

import pytest
import torch
from cbs_fixtures import ScriptedLearner, traj

from credo.config import AlgoConfig, CBSConfig, SamplingConfig, TrainConfig
from credo.selection import FEATURES, RolloutBuffer, Stored, normalise, policy_stats, raw_features
from credo.selection.features import clip_ratio
from credo.selection.selector import RolloutSelector
from credo.train.learner import Learner
from credo.train.state import load_state, save_state


def test_buffer_keeps_the_last_l_rounds_with_ages_and_group_accuracy():
    buf = RolloutBuffer(3)
    for step in range(5):
        new = buf.push(step, [traj(10 * step, 1.0), traj(10 * step, 0.0), traj(10 * step, 0.0),
                              traj(10 * step + 1, 1.0), traj(10 * step + 1, 1.0)])
        assert [e.step for e in new] == [step] * 5
    assert sorted({e.step for e in buf.entries}) == [2, 3, 4]  # rounds 0 and 1 fell out, oldest first
    assert len(buf) == 15
    assert [e.age(4) for e in buf.entries] == [2] * 5 + [1] * 5 + [0] * 5
    assert [e.group_acc for e in buf.entries[:5]] == pytest.approx([1 / 3] * 3 + [1.0] * 2)
    assert all(e.usage == 0 and e.clip_ratio == 0.0 for e in buf.entries)


def test_usage_counts_the_times_a_rollout_was_selected():
    cfg = CBSConfig(mode="global", buffer_rounds=2, top_k=2)
    sel = RolloutSelector("max_abs_adv", cfg, max_new_tokens=8, eps_low=0.2, eps_high=0.2, seed=0)
    learner = ScriptedLearner()
    a0 = [traj(0, 1.0, 3.0), traj(0, 0.0, 2.0), traj(0, 0.0, 0.1)]
    chosen, m = sel.select(a0, 0, learner)
    assert chosen == a0[:2] and m["cbs/chosen_usage_mean"] == 0.0
    a1 = [traj(1, 1.0, 2.5), traj(1, 0.0, 0.2), traj(1, 0.0, 0.3)]
    chosen, m = sel.select(a1, 1, learner)  # buffer: a0 (age 1) + a1; the two largest |A| are 3.0 and 2.5
    assert chosen == [a0[0], a1[0]]
    assert m["cbs/chosen_usage_mean"] == 0.5  # a0[0] had been used once
    assert m["cbs/chosen_frac/age_1"] == pytest.approx(1 / 3) and m["cbs/chosen_frac/age_0"] == pytest.approx(1 / 3)
    assert [e.usage for e in sel.buffer.entries] == [2, 1, 0, 1, 0, 0]
    sel.select([traj(2, 1.0, 0.1)], 2, learner)
    assert [e.step for e in sel.buffer.entries] == [1, 1, 1, 2]  # L = 2: round 0 is gone


def test_buffer_state_round_trips_through_a_checkpoint(tmp_path):
    buf = RolloutBuffer(2)
    t = traj(3, 1.0, torch.tensor([0.5, 0.25, 0.0]), info={"verdict": {"gold": "7"}, "source": "sample",
                                                         "old_logprobs": torch.ones(3), "handle": object()})
    buf.push(4, [t, traj(3, 0.0, -0.5, n_tok=5, finish="length")])
    buf.entries[0].usage, buf.entries[0].clip_ratio = 2, 0.125
    buf.entries[0].trained_logprobs = torch.tensor([-1.0, -2.0, -3.0])
    save_state(tmp_path, buf.state_dict())
    back = RolloutBuffer(1)
    back.load_state_dict(load_state(tmp_path))
    assert back.rounds == 2 and len(back) == 2
    a, b = buf.entries[0], back.entries[0]
    assert (b.step, b.usage, b.clip_ratio, b.group_acc) == (4, 2, 0.125, 0.5)
    assert torch.equal(b.trained_logprobs, a.trained_logprobs) and back.entries[1].trained_logprobs is None
    for name in ("prompt_ids", "response_ids", "logprobs", "loss_mask", "versions", "advantage"):
        assert torch.equal(getattr(b.traj, name), getattr(a.traj, name)), name
    assert (b.traj.reward, b.traj.rewards, b.traj.group_id) == (1.0, {"score": 1.0}, 3)
    assert b.traj.info == {"verdict": {"gold": "7"}, "source": "sample"}  # per-update and opaque entries dropped
    assert back.entries[1].traj.finish_reason == "length"


def test_raw_features_on_hand_made_rollouts():
    e1 = Stored(traj(0, 1.0, 1.5, n_tok=4), step=5, group_acc=0.25)
    e2 = Stored(traj(1, 0.0, -0.5, n_tok=8, finish="length"), step=3, group_acc=0.5, usage=2, clip_ratio=0.25)
    e3 = Stored(traj(2, 1.0, torch.tensor([0.25, 0.75]), n_tok=2), step=4, group_acc=0.75, usage=1)
    x = raw_features([e1, e2, e3], 5, torch.tensor([-0.5, -2.0, -1.0]), torch.tensor([1.0, 2.0, 0.5]), 8)
    assert FEATURES == ("reward", "advantage", "group_acc", "entropy", "clip_ratio", "length", "truncated", "age",
                        "usage", "logprob")
    assert x.tolist() == [[1.0, 1.5, 0.25, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0, -0.5],
                          [0.0, -0.5, 0.5, 2.0, 0.25, 1.0, 1.0, 2.0, 2.0, -2.0],
                          [1.0, 0.5, 0.75, 0.5, 0.0, 0.25, 0.0, 1.0, 1.0, -1.0]]
    z = normalise(x)
    # reward column [1, 0, 1]: mean 2/3, population std sqrt(2)/3
    assert z[:, 0].tolist() == pytest.approx([1 / math.sqrt(2), -math.sqrt(2), 1 / math.sqrt(2)])
    # age column [0, 2, 1]: mean 1, std sqrt(2/3)
    assert z[:, 7].tolist() == pytest.approx([-math.sqrt(1.5), math.sqrt(1.5), 0.0])
    assert normalise(torch.tensor([[3.0, 1.0], [3.0, 3.0]], dtype=torch.float64)).tolist() == [[0.0, -1.0],
                                                                                               [0.0, 1.0]]


def test_clip_ratio_counts_masked_tokens_outside_the_range():
    now = torch.log(torch.tensor([1.3, 0.7, 1.0, 1.1, 5.0]))
    before = torch.zeros(5)
    mask = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])  # the last token (ratio 5) is masked out
    assert clip_ratio(now, before, mask, 0.2, 0.2) == pytest.approx(2 / 4)
    assert clip_ratio(now, before, mask, 0.2, 0.35) == pytest.approx(1 / 4)  # 1.3 is inside [0.8, 1.35]
    assert clip_ratio(now, before, torch.zeros(5), 0.2, 0.2) == 0.0


def test_policy_stats_match_a_full_sequence_forward(tiny_policy):
    model, tok = tiny_policy
    learner = Learner(model, tok.pad_token_id, AlgoConfig(), TrainConfig(micro_batch_size=2),
                      SamplingConfig(temperature=0.7))
    trajs = [traj(0, 1.0, n_tok=3), traj(0, 0.0, n_tok=5), traj(1, 1.0, n_tok=2)]
    trajs[2].prompt_ids = torch.tensor([4, 5, 6])
    lps, mean_lp, mean_ent = policy_stats(learner, trajs)
    for i, t in enumerate(trajs):
        ids = torch.cat([t.prompt_ids, t.response_ids]).unsqueeze(0)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(t.prompt_ids) - 1: -1].double() / 0.7
        logp = torch.log_softmax(logits, -1)
        tok_lp = logp.gather(-1, t.response_ids.unsqueeze(-1)).squeeze(-1)
        ent = -(logp.exp() * logp).sum(-1)
        assert lps[i] == pytest.approx(tok_lp.float(), abs=1e-4)
        assert float(mean_lp[i]) == pytest.approx(float(tok_lp.mean()), abs=1e-4)
        assert float(mean_ent[i]) == pytest.approx(float(ent.mean()), abs=1e-4)
