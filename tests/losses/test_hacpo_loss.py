"""HACPO loss: stepwise cross clip, exponential importance sampling (value and gradient), self rows = GSPO."""

import math

import pytest
import torch

from credo.config import AlgoConfig
from credo.losses import POLICY_LOSSES
from credo.losses.hacpo import cross_lower_bound, hacpo_loss

ALGO = AlgoConfig(eps_low=3e-4, eps_high=4e-4, log_ratio_clamp=10.0)


def test_stepwise_lower_bound():
    assert [cross_lower_bound(m, 0.2, 0.025) for m in range(4)] == pytest.approx([0.8, 0.825, 0.85, 0.875])
    assert cross_lower_bound(3, 0.2, 0.025, stepwise=False) == pytest.approx(0.8)
    assert cross_lower_bound(50, 0.2, 0.025) == 1.0


def _rows(log_s, lengths=(3, 2, 4)):
    """Learner log-probs [3, 4] whose masked means are ``-1 + log_s`` against an old mean of -1."""
    T = max(lengths)
    mask = torch.zeros(3, T)
    lp = torch.zeros(3, T)
    for i, (n, ls) in enumerate(zip(lengths, log_s)):
        mask[i, :n] = 1
        lp[i, :n] = torch.linspace(-1.5, -0.5, n) + ls  # mean -1 + ls
        lp[i, n:] = float("nan")  # padding must not leak
    return lp.requires_grad_(True), mask, torch.full((3,), -1.0)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0])
def test_exponential_is_value_and_gradient_match_the_derivation(alpha):
    s = torch.tensor([0.9, 0.5, 1.3])  # inside [0.8, 1], below, above
    lp, mask, old = _rows(s.log())
    adv, w = torch.tensor([2.0, 1.0, -1.5]), torch.tensor([1.5, 0.7, 2.0])
    loss, info = hacpo_loss(lp, mask, old, adv, torch.ones(3, dtype=torch.bool), w, 0.8, ALGO, alpha)
    c = s.clamp(0.8, 1.0)
    assert loss.tolist() == pytest.approx((-c ** (1 + alpha) * w * adv).tolist(), rel=1e-5)
    assert info["low"].tolist() == [False, True, False] and info["high"].tolist() == [False, False, True]
    loss.sum().backward()
    # d/dlp_t of -c sg(c)^alpha w A = -w A c^alpha s / |y| inside the clip range (= -w A s^(1+alpha) / |y|), else 0
    expect = -w[0] * adv[0] * s[0] ** (1 + alpha) / 3
    assert lp.grad[0, :3].tolist() == pytest.approx([float(expect)] * 3, rel=1e-5)
    assert torch.all(lp.grad[1:] == 0) and torch.all(lp.grad[0, 3:] == 0)
    assert info["live"].tolist() == [True, False, False]


def test_self_rows_are_gspo_and_naive_cross_is_symmetric():
    log_s = torch.tensor([0.01, -0.3, 0.3])
    lp, mask, old = _rows(log_s)
    adv = torch.tensor([1.0, -1.0, 1.0])
    loss, _ = hacpo_loss(lp, mask, old, adv, torch.zeros(3, dtype=torch.bool), torch.ones(3), 0.8, ALGO)
    old_tok = torch.where(mask > 0, lp.detach() - log_s[:, None], torch.zeros_like(lp))
    ref, _ = POLICY_LOSSES.get("gspo")(lp.detach(), old_tok, adv[:, None].expand_as(lp), mask, ALGO)
    assert loss.tolist() == pytest.approx(ref[:, 0].tolist(), rel=1e-5)
    loss, info = hacpo_loss(lp, mask, old, adv, torch.ones(3, dtype=torch.bool), torch.full((3,), 9.0), 0.8, ALGO,
                            naive_eps=0.2)
    s = log_s.exp()
    expect = [-1 * float(s[0]), max(float(s[1]), 0.8) * 1.0, -1.2]  # weight ignored; ratio clipped to [0.8, 1.2]
    assert loss.tolist() == pytest.approx(expect, rel=1e-5)
    assert info["low"].tolist() == [False, True, False] and info["high"].tolist() == [False, False, True]
    assert math.isfinite(float(loss.detach().sum()))


def test_live_marks_exactly_the_cross_rows_with_a_gradient():
    """``live`` (used for the share of correct cross samples that move the learner) agrees with autograd: for Naive
    a ratio outside [0.8, 1.2] still has a gradient when PPO's min keeps the unclipped side; A = 0 has none."""
    log_s = torch.tensor([-0.3, 0.3, 0.0])
    adv = torch.tensor([1.0, -1.0, 0.0])
    for naive_eps, expect in ((0.2, [True, True, False]), (None, [False, False, False])):
        lp, mask, old = _rows(log_s)
        loss, info = hacpo_loss(lp, mask, old, adv, torch.ones(3, dtype=torch.bool), torch.ones(3), 0.8, ALGO,
                                naive_eps=naive_eps)
        loss.sum().backward()
        has_grad = (torch.nan_to_num(lp.grad).abs().sum(-1) > 0).tolist()
        assert info["live"].tolist() == expect == has_grad
