"""R2M parts against hand-computed values: ω(t), cross-attention shapes/masks, best/worst, BT, GRE and its guard."""

import math

import pytest
import torch

from credo.rm import CrossAttention, best_worst, bt_loss, gre, grebt_loss, mix, omega


def test_omega_schedule_by_hand():
    assert omega(0, 100, 0.6) == 1.0
    assert omega(25, 100, 0.3) == pytest.approx(0.5 * math.sqrt(0.5) + 0.5)  # cos(pi/4) = 0.7071
    assert omega(50, 100, 0.3) == pytest.approx(0.5)
    assert omega(50, 100, 0.6) == 0.6  # the floor
    assert omega(100, 100, 0.0) == pytest.approx(0.0)
    assert omega(150, 100, 0.2) == pytest.approx(0.2)  # past T stays at the floor


def test_cross_attention_shapes_with_another_width_and_padding_mask():
    torch.manual_seed(0)
    att = CrossAttention(d_rm=8, d_policy=5, d=4)  # RM width 8, policy width 5, attention width 4
    q = torch.randn(2, 8)
    states = torch.randn(2, 6, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    out = att(q, states, mask)
    assert out.shape == (2, 8)
    # padded positions carry no information: changing them leaves the output unchanged
    noisy = states.clone()
    noisy[0, 3:] = 100.0
    assert torch.allclose(att(q, noisy, mask), out)
    # by hand for row 0: softmax over the 3 real positions of q W_q · (h W_k) / sqrt(4), then (attn v) W_o
    qq, k, v = q[0] @ att.q.weight.T, states[0, :3] @ att.k.weight.T, states[0, :3] @ att.v.weight.T
    a = torch.softmax(k @ qq / 2.0, dim=0)
    assert torch.allclose(out[0], (a @ v) @ att.o.weight.T, atol=1e-6)
    # a row of padding only gives 0, not NaN
    empty = att(q, states, torch.zeros(2, 6, dtype=torch.long))
    assert torch.equal(empty, torch.zeros(2, 8))


def test_mix():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    assert torch.allclose(mix(a, b, 0.25), torch.tensor([0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 6]))


def test_best_and_worst_of_each_group():
    scores = [0.1, 0.9, 0.5, 0.3, 0.3, 0.3, 2.0, -1.0]
    groups = [7, 7, 7, 8, 8, 8, 9, 9]
    assert best_worst(scores, groups) == [(1, 0), (6, 7)]  # group 8 is all equal: no pair
    assert best_worst([1.0, 1.0, 0.0], [0, 0, 0]) == [(0, 2)]  # ties go to the first row


def test_bt_loss_by_hand():
    assert float(bt_loss(torch.tensor([2.0]), torch.tensor([1.0]))) == pytest.approx(math.log(1 + math.exp(-1)))


def test_gre_by_hand_and_its_guard():
    r = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    # mean 2, unbiased std 1 -> z = (-1, 0, 1); p = e^z / sum
    e = [math.exp(-1), 1.0, math.exp(1)]
    p = [x / sum(e) for x in e]
    want = -sum(x * math.log(x) for x in p)
    assert float(gre(r, 1e-12).detach()) == pytest.approx(want, rel=1e-5)
    flat = torch.tensor([0.5, 0.5, 0.5, 0.5], requires_grad=True)
    out = gre(flat)
    assert float(out.detach()) == 0.0
    out.backward()
    assert torch.equal(flat.grad, torch.zeros(4))  # guard: no NaN, no gradient
    # scale invariance: standardised inputs make GRE independent of the rewards' scale and shift
    assert float(gre(torch.tensor([10.0, 20.0, 30.0]), 1e-12)) == pytest.approx(want, rel=1e-5)


def test_grebt_combines_bt_on_best_worst_and_gre():
    r = torch.tensor([0.0, 1.0, 3.0, 2.0, 2.0, 2.0])
    groups, ann = [0, 0, 0, 1, 1, 1], [0.9, 0.1, 0.5, 1.0, 1.0, 1.0]
    loss, m = grebt_loss(r, groups, ann, alpha=0.3)
    bt = math.log(1 + math.exp(-(0.0 - 1.0)))  # group 0: winner row 0 (r=0), loser row 1 (r=1); group 1: no pair
    z = [(x - 4 / 3) / math.sqrt(7 / 3) for x in (0.0, 1.0, 3.0)]
    e = [math.exp(x) for x in z]
    ent0 = -sum(x / sum(e) * math.log(x / sum(e)) for x in e)
    assert m["rm/pairs"] == 1.0
    assert float(loss) == pytest.approx(0.7 * bt + 0.3 * (ent0 + 0.0) / 2, rel=1e-5)
