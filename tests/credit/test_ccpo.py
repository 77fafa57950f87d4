"""CCPO credit against hand-computed values: history normaliser, dyad modes, voting re-tally and ties."""

import math

import pytest
import torch

from credo.credit.ccpo import HistoryNormalizer, dyad_rewards, majority, pair_solo, shape_vote_rewards, vote_credit


def t(*x):
    return torch.tensor(x, dtype=torch.float64)


def test_history_first_batch_initialises_then_ema():
    h = HistoryNormalizer(decay=0.9, min_samples=3)
    assert h.stats("d") == (0.0, 1.0) and not h.ready("d")
    h.update("d", t(1.0, 3.0))  # mean 2, population var 1
    assert h.stats("d") == (2.0, 1.0) and not h.ready("d")
    h.update("d", t(0.0, 0.0))  # mu = .9*2 + .1*0 = 1.8 ; m2 = .9*1 + .1*0 = .9
    mu, sd = h.stats("d")
    assert mu == pytest.approx(1.8) and sd == pytest.approx(math.sqrt(0.9)) and h.ready("d")
    h2 = HistoryNormalizer()
    h2.load_state_dict(h.state_dict())
    assert h2.stats("d") == h.stats("d") and h2.ready("d") and h2.decay == 0.9


def test_history_tiny_variance_gives_unit_sigma():
    h = HistoryNormalizer()
    h.update("x", t(0.5, 0.5, 0.5))
    assert h.stats("x") == (0.5, 1.0)


def test_pair_solo_by_index_with_mean_fallback():
    out = pair_solo([7, 7, 9, 9, 9], {7: [1.0, 0.0], 9: [1.0, 0.0]})
    assert out.tolist() == [1.0, 0.0, 1.0, 0.0, 0.5]  # third sample of prompt 9 has no partner -> prompt mean


def test_dyad_v1_raw_during_warm_up_then_normalise_before_update():
    h = HistoryNormalizer(decay=0.5, min_samples=4)
    joint, solo, g = t(1, 0, 1, 1), t(0, 0, 1, 0), torch.tensor([0, 0, 1, 1])
    r1, r2, m = dyad_rewards(joint, solo, g, h, "v1")
    assert r1.tolist() == [1, 0, 0, 1] and r2.tolist() == [1, 0, 1, 1]  # warm-up: raw delta, raw joint
    assert m["ccpo/help_rate"] == 0.5 and m["ccpo/hurt_rate"] == 0.0 and m["ccpo/same_rate"] == 0.5
    # history after batch 1: delta mean .5 var .25; joint mean .75 var .1875; solo mean .25 var .1875
    joint2, solo2 = t(0, 1), t(1, 1)
    r1, r2, m = dyad_rewards(joint2, solo2, torch.tensor([2, 2]), h, "v1", alpha=2.0, eta=1.0)
    eps = 1e-6
    mu_d, sd_d = 0.5, 0.5
    mu_j, sd_j, mu_s, sd_s = 0.75, math.sqrt(0.1875), 0.25, math.sqrt(0.1875)
    g = 1 / (1 + math.exp(-mu_d / (sd_d + eps)))
    for i, (j, s) in enumerate([(0, 1), (1, 1)]):
        assert r1[i].item() == pytest.approx(math.tanh(2.0 * ((j - s) - mu_d) / (sd_d + eps)))
        want = g * (j - mu_j) / (sd_j + eps) + (1 - g) * (s - mu_s) / (sd_s + eps)
        assert r2[i].item() == pytest.approx(want)
    assert m["ccpo/gate"] == pytest.approx(g)
    # then updated with the raw batch-2 values: delta mean -.5 var .25 -> mu .5*.5 + .5*-.5 = 0
    assert h.stats("delta")[0] == pytest.approx(0.0)


def test_dyad_shapley_v2_shared():
    joint, solo, g = t(1, 0, 1, 0), t(0, 1, 1, 1), torch.tensor([0, 0, 1, 1])
    h = HistoryNormalizer()
    r1, r2, _ = dyad_rewards(joint, solo, g, h, "shapley_half")
    assert r1.tolist() == [0.5, -0.5, 0.0, -0.5] and r2.tolist() == [0.5, 0.0, 0.5, 0.0]
    # prompt 0: mean solo .5 (no event either way); prompt 1: mean solo 1 -> wrong joint answer is a -1 event
    r1, r2, _ = dyad_rewards(joint, solo, g, h, "v2", lam=0.2)
    assert r1.tolist() == pytest.approx([1.0, 0.0, 1.0, -0.2]) and r2.tolist() == [1, 0, 1, 0]
    r1, r2, _ = dyad_rewards(t(1, 0), t(0, 0), torch.tensor([0, 0]), h, "v2", lam=0.2)
    assert r1.tolist() == pytest.approx([1.2, 0.0])  # right where the Solver alone is mostly wrong: +1 event
    r1, r2, _ = dyad_rewards(joint, solo, g, h, "shared")
    assert r1.tolist() == r2.tolist() == joint.tolist()
    assert h.streams == {}  # only v1 touches the history
    with pytest.raises(ValueError, match="think_reason"):
        dyad_rewards(joint, solo, g, h, "v3")


def test_majority_and_ties():
    assert majority(["3", "3", "4"]) == "3"
    assert majority(["", "", ""]) is None
    assert majority(["3", "4", ""], "none") is None
    import random

    picks = {majority(["3", "4"], "random", random.Random(s)) for s in range(20)}
    assert picks == {"3", "4"}
    assert majority(["3", "4"], "random", random.Random(5)) == majority(["3", "4"], "random", random.Random(5))
    with pytest.raises(ValueError, match="tie_rule"):
        majority(["3", "4"], "first")


def test_vote_credit_retally_without_each_voter():
    correct = {"3": 1.0, "4": 0.0, "5": 0.0}
    # 3,3,4: majority right; drop a '3' voter -> 3 vs 4 tie (none rule -> 0); drop the '4' voter -> still right
    joint, c = vote_credit(["3", "3", "4"], correct, "none")
    assert joint == 1.0 and c == [1.0, 1.0, 0.0]
    # 4,4,3: majority wrong; dropping a '4' gives a tie -> 0 under none; the '3' voter is not pivotal
    joint, c = vote_credit(["4", "4", "3"], correct, "none")
    assert joint == 0.0 and c == [0.0, 0.0, 0.0]
    # 3,4,5 with random ties: joint is one of them; a tie-break is reproducible from the seed
    a = vote_credit(["3", "4", "5"], correct, "random", seed=11)
    assert a == vote_credit(["3", "4", "5"], correct, "random", seed=11)
    # a wrong voter who breaks a right majority: 3,3,4,4,... (4 voters) 3,3,3,4 -> without a 3: 3,3,4 still right
    joint, c = vote_credit(["3", "3", "3", "4"], correct, "none")
    assert joint == 1.0 and c == [0.0, 0.0, 0.0, 0.0]


def test_shape_vote_rewards_modes():
    joint, credit, own = t(1, 0, 1), t(1, 0, 0), t(1, 1, 0)
    h = HistoryNormalizer(min_samples=3)
    r = shape_vote_rewards(joint, credit, own, h, "a", "counterfactual")
    assert r.tolist() == [1, 0, 0]  # warm-up: raw credit
    mu, sd = h.stats("a")
    r = shape_vote_rewards(joint, credit, own, h, "a", "counterfactual", alpha=1.0)
    assert r.tolist() == pytest.approx([math.tanh((c - mu) / (sd + 1e-6)) for c in (1, 0, 0)])
    assert shape_vote_rewards(joint, credit, own, h, "b", "joint_plus", lam=0.5).tolist() == [1.5, 0, 1]
    assert shape_vote_rewards(joint, credit, own, h, "b", "shared").tolist() == [1, 0, 1]
    assert shape_vote_rewards(joint, credit, own, h, "b", "individual").tolist() == [1, 1, 0]
    assert "b" not in h.streams
