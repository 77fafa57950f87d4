"""HACPO capability tracker and the capability-aware joint-group advantage, against hand-computed values."""

import pytest
import torch

from credo.credit.capability import CapabilityTracker, joint_advantages

# One prompt, two agents with G = 2 each: agent 0 (weak) scores [1, 0], agent 1 (strong) scores [1, 1].
R = torch.tensor([1.0, 0.0, 1.0, 1.0])
GID = torch.zeros(4, dtype=torch.long)
SRC = torch.tensor([0, 0, 1, 1])
STD = 0.5  # unbiased std of [1, 0, 1, 1]: sqrt(0.75 / 3)


def omega(w01):
    return torch.tensor([[1.0, w01], [1.0 / w01, 1.0]], dtype=torch.float64)


def test_weak_learner_baseline_rescales_the_strong_agents_rewards_down():
    adv, m = joint_advantages(R, GID, SRC, 0, omega(0.5))
    mu = (1 + 0 + 0.5 * 1 + 0.5 * 1) / 4  # = 0.5
    assert m["hacpo/baseline_mean"] == pytest.approx(mu)
    assert adv.tolist() == pytest.approx([(r - mu) / (STD + 1e-6) for r in R.tolist()])


def test_strong_learner_baseline_and_the_over_one_guard():
    adv, m = joint_advantages(R, GID, SRC, 1, omega(0.5))  # omega(1, 0) = 2
    mu = (2 * 1 + 2 * 0 + 1 + 1) / 4  # = 1.0, not above 1
    assert m["hacpo/guard_over_one"] == 0.0
    assert adv.tolist() == pytest.approx([(r - mu) / (STD + 1e-6) for r in R.tolist()])
    adv, m = joint_advantages(R, GID, SRC, 1, omega(1 / 3))  # mu = (3 + 0 + 1 + 1) / 4 = 1.25 > 1
    own_mean = 1.0  # agent 1's own rewards [1, 1]
    assert m["hacpo/guard_over_one"] == 1.0 and m["hacpo/baseline_mean"] == pytest.approx(own_mean)
    assert adv.tolist() == pytest.approx([(r - own_mean) / (STD + 1e-6) for r in R.tolist()])


def test_uniform_group_gets_zero_advantage_and_none_is_the_plain_mean():
    adv, m = joint_advantages(torch.ones(4), GID, SRC, 0, omega(0.1))
    assert adv.tolist() == [0.0] * 4 and m["hacpo/guard_uniform"] == 1.0
    adv, _ = joint_advantages(R, GID, SRC, 0, None)
    assert adv.tolist() == pytest.approx([(r - 0.75) / (STD + 1e-6) for r in R.tolist()])


def test_groups_are_independent():
    r = torch.cat([R, torch.tensor([0.0, 1.0, 0.0, 0.0])])
    g = torch.tensor([0, 0, 0, 0, 7, 7, 7, 7])
    adv, m = joint_advantages(r, g, torch.cat([SRC, SRC]), 0, omega(0.5))
    a0, _ = joint_advantages(R, GID, SRC, 0, omega(0.5))
    assert adv[:4].tolist() == pytest.approx(a0.tolist())
    mu = (0 + 1 + 0 + 0) / 4
    assert adv[4:].tolist() == pytest.approx([(x - mu) / (0.5 + 1e-6) for x in [0.0, 1.0, 0.0, 0.0]])


def test_tracker_window_floor_clip_and_warmup():
    t = CapabilityTracker(["a", "b"], window=5, warmup=2)
    assert t.omega("a", "b") == 1.0 and t.capability("a") == 1e-8
    t.update({"a": [1.0, 0.0], "b": [0.0, 0.0]})
    assert t.omega("a", "b") == 1.0  # warm-up: one step recorded out of 2
    t.update({"a": [1.0, 1.0], "b": [0.0, 0.0]})
    assert t.omega("a", "b") == 1.0  # still warm-up: steps <= warmup, as in the reference tracker
    t.update({"a": [1.0, 1.0], "b": [0.0, 0.0]})
    assert t.capability("b") == 1e-8 and t.omega("a", "b") == 10.0 and t.omega("b", "a") == 0.1
    for v in (0.2, 0.4, 0.6, 0.8, 1.0):  # pushes the first three steps out of the window of 5
        t.update({"a": [v], "b": [0.5]})
    assert t.capability("a") == pytest.approx(0.6) and t.omega("a", "b") == pytest.approx(1.2)
    assert t.matrix().flatten().tolist() == pytest.approx([1.0, 1.2, 1 / 1.2, 1.0])
    pos = CapabilityTracker(["a"], stat="positive")
    pos.update({"a": [0.3, 0.0, 1.0, 0.0]})
    assert pos.capability("a") == 0.5


def test_tracker_state_round_trip_keeps_the_window():
    t = CapabilityTracker(["a", "b"], window=3)
    for v in (0.1, 0.2, 0.3, 0.4):
        t.update({"a": [v], "b": [1 - v]})
    u = CapabilityTracker(["a", "b"], window=3)
    u.load_state_dict(t.state_dict())
    assert u.metrics() == t.metrics() and u.steps == 4
    for x in (t, u):
        x.update({"a": [0.9], "b": [0.1]})
    assert u.metrics() == t.metrics() and u.capability("a") == pytest.approx((0.3 + 0.4 + 0.9) / 3)


def test_capability_warmup_boundary_follows_the_reference_code():
    """The reference tracker returns ratio 1 while ``steps <= warmup_steps``: with warmup=2 the first two recorded
    steps still give 1, the third gives P_a / P_b."""
    t = CapabilityTracker(["a", "b"], window=5, warmup=2)
    t.update({"a": [1.0], "b": [0.5]})
    t.update({"a": [1.0], "b": [0.5]})
    assert t.omega("a", "b") == 1.0 and t.omega("b", "a") == 1.0
    t.update({"a": [1.0], "b": [0.5]})
    assert t.omega("a", "b") == pytest.approx(2.0) and t.omega("b", "a") == pytest.approx(0.5)
    t0 = CapabilityTracker(["a", "b"], warmup=0)
    assert t0.omega("a", "b") == 1.0  # before any step
    t0.update({"a": [1.0], "b": [0.5]})
    assert t0.omega("a", "b") == pytest.approx(2.0)
