"""CBS selection: the delayed arm reward on a scripted run, intra vs global selection sizes, the controls, and the
bandit's learning and exploration terms."""

import pytest
import torch
from cbs_fixtures import ScriptedLearner, traj

from credo.config import CBSConfig
from credo.selection import SCHEDULERS, RolloutSelector, arm_reward, keep_count
from credo.selection.bandit import NeuralBandit


def selector(name="cbs", **kw):
    return RolloutSelector(name, CBSConfig(**kw), max_new_tokens=8, eps_low=0.2, eps_high=0.2, seed=0)


def test_arm_reward_by_hand():
    # (0.5 - 0.3) - 0.5 * (2.0 - 2.5): the entropy fell while above the floor, which adds 0.25
    assert arm_reward(0.3, 2.5, 0.5, 2.0, w_e=0.5, e_min=1.0) == pytest.approx(0.45)
    assert arm_reward(0.3, 0.8, 0.5, 2.0, w_e=0.5, e_min=1.0) == pytest.approx(0.2)  # below the floor: no term
    assert arm_reward(0.3, 2.5, 0.5, 3.0, w_e=0.0, e_min=1.0) == pytest.approx(0.2)  # no-entropy-term control


def test_each_selection_is_paid_one_step_late_with_the_gated_entropy_change():
    sel = selector(explore="greedy", warmup_rounds=2, w_e=0.5, e_min_frac=0.5, fit_steps=1)
    learner = ScriptedLearner()
    # V_t (mean score of the fresh group of 4) and E_t (entropy of every token) per round
    script = [([1, 0, 0, 0], 2.0), ([1, 1, 0, 0], 2.5), ([1, 0, 0, 0], 1.5), ([1, 1, 1, 0], 0.9),
              ([1, 1, 0, 0], 1.4)]
    # e_min = 0.5 * 2.0 = 1.0; gains credited to the selection of the previous round:
    #   (0.50 - 0.25) - 0.5 * (2.5 - 2.0) = 0.0
    #   (0.25 - 0.50) - 0.5 * (1.5 - 2.5) = 0.25
    #   (0.75 - 0.25) - 0.5 * (0.9 - 1.5) = 0.8
    #   (0.50 - 0.75) - 0 (E_prev = 0.9 is below e_min)  = -0.25
    expected = [None, 0.0, 0.25, 0.8, -0.25]
    pending = []
    for step, (scores, ent) in enumerate(script):
        learner.entropy = ent
        chosen, m = sel.select([traj(step, float(s)) for s in scores], step, learner)
        assert len(chosen) == 2 and m["cbs/e_min"] == pytest.approx(1.0)
        assert m["cbs/warmup"] == float(step < 2)
        if expected[step] is None:
            assert "cbs/realised_gain" not in m
        else:
            assert m["cbs/realised_gain"] == pytest.approx(expected[step])
        pending.append(sel.pending["x"].clone())
    window = sel.scheduler.bandit
    assert window.ys.tolist() == pytest.approx([0.0] * 2 + [0.25] * 2 + [0.8] * 2 + [-0.25] * 2)
    assert torch.equal(window.xs, torch.cat(pending[:4]).float())  # the features of the rollouts chosen earlier


def groups(sizes, step=0, start=0):
    out = []
    for g, n in enumerate(sizes):
        out += [traj(start + g, float(i % 2), adv=float(i)) for i in range(n)]
    return out


@pytest.mark.parametrize("frac,want", [(0.5, 4 + 3), (0.25, 2 + 2), (1.0, 8 + 6), (0.01, 1 + 1)])
def test_intra_keeps_a_fraction_of_every_group(frac, want):
    assert keep_count(8, frac) + keep_count(6, frac) == want
    sel = selector("random", keep_frac=frac)
    chosen, m = sel.select(groups([8, 6]), 0, ScriptedLearner())
    assert len(chosen) == want == m["cbs/chosen"] and m["cbs/candidates"] == 14
    assert sum(t.group_id == 0 for t in chosen) == keep_count(8, frac)


def test_global_takes_the_top_k_over_the_buffer():
    sel = selector("random", mode="global", buffer_rounds=3, top_k=5)
    for step in range(4):
        chosen, m = sel.select(groups([8, 6], start=10 * step), step, ScriptedLearner())
        assert len(chosen) == 5
    assert m["cbs/candidates"] == 3 * 14 and m["cbs/buffer_size"] == 42
    sel = selector("random", mode="global", buffer_rounds=2, top_k=0)  # K = one fresh round
    for step in range(2):
        chosen, m = sel.select(groups([8, 6], start=10 * step), step, ScriptedLearner())
    assert len(chosen) == 14 and m["cbs/candidates"] == 28


def test_max_abs_advantage_and_random_controls():
    fresh = [traj(0, 1.0, 1.5), traj(0, 0.0, -0.5), traj(0, 0.0, -0.6), traj(0, 0.0, 0.1)]
    chosen, _ = selector("max_abs_adv").select(fresh, 0, ScriptedLearner())
    assert chosen == [fresh[0], fresh[2]]
    picks = [selector("random").select(groups([8, 8]), 0, ScriptedLearner())[0] for _ in range(2)]
    assert [t.info for t in picks[0]] == [t.info for t in picks[1]]
    assert [(t.group_id, t.advantage) for t in picks[0]] == [(t.group_id, t.advantage) for t in picks[1]]
    assert set(SCHEDULERS.names()) >= {"cbs", "random", "max_abs_adv"}


def test_the_scorer_learns_a_gain_that_depends_on_one_feature():
    gen = torch.Generator().manual_seed(0)
    bandit = NeuralBandit(10, 64, "greedy", 1e-2, 4096, 5, 64, 1.0, 1.0, seed=0)
    x = torch.randn(300, 10, generator=gen)
    for i in range(300):
        bandit.observe(x[i: i + 1], float(2.0 * x[i, 3]), gen)
    probe = torch.randn(200, 10, generator=gen)
    pred = bandit.predict(probe)
    assert torch.corrcoef(torch.stack([pred.float(), 2 * probe[:, 3]]))[0, 1] > 0.9
    assert float(bandit.observe(x[:1], float(2 * x[0, 3]), gen)["cbs/scorer_loss"]) < 0.2


def test_exploration_terms():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 10, generator=gen)
    ucb = NeuralBandit(10, 16, "neural_ucb", 1e-2, 64, 2, 8, 1.0, 1e-3, seed=0)
    before = ucb.score(x)[1]
    ucb.chosen(x[:1].repeat(20, 1))  # the same arm chosen many times: its bonus shrinks the most
    after = ucb.score(x)[1]
    assert (after <= before + 1e-9).all() and after[0] < 0.5 * before[0]
    assert int((after / before).argmin()) == 0
    ee = NeuralBandit(10, 16, "ee_net", 1e-2, 256, 30, 32, 1.0, 1.0, seed=0)
    for _ in range(4):
        m = ee.observe(x, 1.0, gen)
    assert "cbs/explore_loss" in m and ee.score(x)[1].abs().sum() > 0
    greedy = NeuralBandit(10, 16, "greedy", 1e-2, 64, 2, 8, 1.0, 1.0, seed=0)
    assert greedy.score(x)[1].abs().sum() == 0
