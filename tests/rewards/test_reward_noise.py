import numpy as np
import pytest
import torch

from credo.rewards.noise import RewardNoise
from credo.trajectory import Trajectory


def _trajs(n):
    out = []
    for i in range(n):
        t = Trajectory(*(torch.zeros(1),) * 5)
        t.rewards["score"] = t.reward = float(i % 2)
        out.append(t)
    return out


@pytest.mark.parametrize("kind", ["student_t", "pareto"])
def test_contamination_rate_tails_and_raw_score(kind):
    trajs = _trajs(4000)
    metrics = RewardNoise(0.2, kind, df=1.5, scale=2.0, seed=0)(trajs)
    noise = np.array([t.rewards["noise"] for t in trajs])
    assert abs(metrics["reward/noise_frac"] - 0.2) < 0.02 and abs((noise != 0).mean() - 0.2) < 0.02
    assert np.abs(noise).max() > 20  # heavy tail: df 1.5 gives values far beyond the scale
    for i, t in enumerate(trajs):
        assert t.score == float(i % 2) and t.reward == pytest.approx(t.score + t.rewards["noise"])
    if kind == "pareto":
        assert np.all(np.abs(noise[noise != 0]) >= 2.0)  # Pareto outliers start at the scale


def test_seeded_and_resumable():
    a, b = RewardNoise(0.5, seed=3), RewardNoise(0.5, seed=3)
    assert np.array_equal(a.sample(50), b.sample(50))
    state = a.state_dict()
    first = a.sample(20)
    c = RewardNoise(0.5, seed=99)
    c.load_state_dict(state)
    assert np.array_equal(c.sample(20), first)


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="noise_kind"):
        RewardNoise(0.1, "cauchy")
    with pytest.raises(ValueError, match="noise_p"):
        RewardNoise(1.5)
