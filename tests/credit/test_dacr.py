"""DACR reward routing: answer R(y), rewrite R(y'), critique R(y') - R(y) (or against the critique-free rewrite)."""

import pytest
import torch

from credo.credit.dacr import dacr_rewards


def test_cross_improvement_routing():
    ans, rw = torch.tensor([0.0, 1.0, 1.0, 0.0]), torch.tensor([1.0, 1.0, 0.0, 0.0])
    a, c, w, m = dacr_rewards(ans, rw)
    assert a.tolist() == [0, 1, 1, 0] and w.tolist() == [1, 1, 0, 0]
    assert c.tolist() == [1, 0, -1, 0]
    assert m["dacr/improved_rate"] == 0.25 and m["dacr/degraded_rate"] == 0.25


def test_counterfactual_rewrite_and_shared():
    ans, rw, solo = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0])
    _, c, _, m = dacr_rewards(ans, rw, solo)
    assert c.tolist() == [0.0, 1.0]  # the first rewrite would have been right without the critique
    assert m["dacr/critique_gain_mean"] == 0.5
    a, c, w, _ = dacr_rewards(ans, rw, mode="shared")
    assert a.tolist() == c.tolist() == w.tolist() == [1.0, 1.0]  # shared: every turn gets R(y')
    with pytest.raises(ValueError, match="answer_critique_rewrite"):
        dacr_rewards(ans, rw, mode="x")


def test_shared_pays_every_turn_the_final_rewritten_reward():
    ans, rw = torch.tensor([0.0, 1.0, 1.0]), torch.tensor([1.0, 1.0, 0.0])
    a, c, w, _ = dacr_rewards(ans, rw, mode="shared")
    assert a.tolist() == c.tolist() == w.tolist() == [1.0, 1.0, 0.0]
