import pytest
import torch

from credo.config import AlgoConfig
from credo.credit import compute_advantages
from credo.selection import apply_overlong, filter_groups, group_scores, overlong_penalty
from credo.trajectory import Trajectory


def traj(gid, score, length=4, finish="stop", reward=None):
    ids = torch.ones(length, dtype=torch.long)
    return Trajectory(ids[:2], ids, torch.zeros(length), torch.ones(length), ids * 0, group_id=gid,
                      finish_reason=finish, rewards={"score": score}, reward=score if reward is None else reward)


def test_group_scores_uses_raw_score_in_order():
    trajs = [traj(7, 1.0, reward=0.3), traj(2, 0.0), traj(7, 0.0)]
    assert group_scores(trajs) == {7: [1.0, 0.0], 2: [0.0]}
    assert list(group_scores(trajs)) == [7, 2]


def test_filter_groups_drops_constant_groups():
    trajs = [traj(3, 1.0), traj(9, 0.0), traj(3, 1.0), traj(9, 1.0), traj(5, 0.0), traj(5, 0.0), traj(8, 1.0)]
    kept, dropped = filter_groups(trajs)
    assert kept == [trajs[1], trajs[3]]
    assert dropped == [3, 5, 8]


def test_filter_on_raw_score_even_when_shaped_reward_differs():
    cfg = AlgoConfig(overlong_penalty=True, overlong_buffer=4)
    trajs = [traj(0, 1.0, length=3), traj(0, 1.0, length=10, finish="length"),  # all correct, rewards differ
             traj(1, 0.0, length=3), traj(1, 1.0, length=9)]
    apply_overlong(trajs, cfg, max_new_tokens=10)
    assert trajs[0].reward != trajs[1].reward
    kept, dropped = filter_groups(trajs)
    assert dropped == [0] and kept == trajs[2:]
    compute_advantages(kept, cfg)
    assert kept[1].reward == pytest.approx(0.25)  # 1 + (6 - 9) / 4
    assert kept[0].advantage < 0 < kept[1].advantage


def test_float_noise_does_not_make_a_group_non_constant():
    kept, dropped = filter_groups([traj(0, 0.1), traj(0, 0.1 + 1e-9), traj(1, 0.1), traj(1, 0.1 + 1e-3)])
    assert dropped == [0] and len(kept) == 2


@pytest.mark.parametrize("length,expect", [
    (0, 0.0), (12, 0.0), (13, -0.25), (14, -0.5), (15, -0.75), (16, -1.0), (17, -1.0), (100, -1.0),
])
def test_overlong_penalty_boundaries(length, expect):
    assert overlong_penalty(length, max_new_tokens=16, buffer=4) == pytest.approx(expect)


def test_overlong_penalty_zero_buffer():
    assert overlong_penalty(16, 16, 0) == 0.0 and overlong_penalty(17, 16, 0) == -1.0


def test_apply_overlong_penalty_and_filter():
    trajs = [traj(0, 1.0, length=4), traj(0, 1.0, length=8, finish="length"), traj(0, 0.0, length=7)]
    m = apply_overlong(trajs, AlgoConfig(overlong_penalty=True, overlong_buffer=2), max_new_tokens=8)
    assert [t.rewards["overlong"] for t in trajs] == [0.0, -1.0, -0.5]
    assert [t.reward for t in trajs] == [1.0, 0.0, -0.5]
    assert m == {"reward/overlong_frac": pytest.approx(1 / 3), "reward/overlong_penalty_mean": pytest.approx(-0.5)}
    assert all(t.loss_mask.sum() == t.num_tokens for t in trajs)  # filter off: masks untouched
    apply_overlong(trajs, AlgoConfig(overlong_penalty=True, overlong_buffer=2), max_new_tokens=8)
    assert [t.reward for t in trajs] == [1.0, 0.0, -0.5]  # idempotent
    m = apply_overlong(trajs, AlgoConfig(overlong_filter=True), max_new_tokens=8)
    assert [float(t.loss_mask.sum()) for t in trajs] == [4.0, 0.0, 7.0]
    assert m["reward/overlong_penalty_mean"] == 0.0 and [t.reward for t in trajs] == [1.0, 0.0, -0.5]
