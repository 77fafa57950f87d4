"""ARM losses against values computed by hand."""

import math

import pytest
import torch

from credo.arm.loss import genarm_loss, preference_loss, sequence_logprobs


def test_genarm_loss_hand_value():
    # margins 1 and -3 at β = 0.5: mean of log(1 + e^-0.5) and log(1 + e^1.5)
    loss = genarm_loss(torch.tensor([-2.0, -4.0]), torch.tensor([-3.0, -1.0]), beta=0.5)
    assert loss.item() == pytest.approx((math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(1.5))) / 2, abs=1e-6)


def test_preference_loss_signed_per_objective_and_global_term():
    # Δ = 1; objective 0 prefers y0 (sign +1), objective 1 prefers y1 (sign −1); λ = (0.25, 0.75), β = 1
    lp0, lp1 = torch.tensor([-2.0]), torch.tensor([-3.0])
    z, lam = torch.tensor([[0.0, 1.0]]), torch.tensor([0.25, 0.75])
    dim = 0.25 * math.log(1 + math.exp(-1)) + 0.75 * math.log(1 + math.exp(1))
    glob = math.log(1 + math.exp(0.5))  # Σλ_i sign_i = −0.5 → −log σ(−0.5)
    loss, parts = preference_loss(lp0, lp1, z, lam, beta=1.0, lam_reg=2.0)
    assert loss.item() == pytest.approx(dim + 2 * glob, abs=1e-6)
    assert parts["loss_dim"] == pytest.approx(dim, abs=1e-6) and parts["loss_glob"] == pytest.approx(glob, abs=1e-6)
    ablated, _ = preference_loss(lp0, lp1, z, lam, beta=1.0, lam_reg=0.0)
    assert ablated.item() == pytest.approx(dim, abs=1e-6)


def test_one_objective_preference_loss_is_genarm():
    lp0, lp1 = torch.tensor([-2.0, -5.0, -1.0]), torch.tensor([-1.0, -4.5, -3.0])
    z = torch.tensor([[1.0], [0.0], [0.0]])  # the preferred response per row: y1, y0, y0
    loss, _ = preference_loss(lp0, lp1, z, torch.tensor([1.0]), beta=0.3, lam_reg=0.0)
    ref = genarm_loss(torch.tensor([-1.0, -5.0, -1.0]), torch.tensor([-2.0, -4.5, -3.0]), beta=0.3)
    assert loss.item() == pytest.approx(ref.item(), abs=1e-6)


def test_sequence_logprobs_sum_response_tokens_only(tiny_policy):
    model, tok = tiny_policy
    model.eval()
    prompts, responses = [[1, 10, 11], [1, 12]], [[20, 21], [22, 23, 24]]
    got = sequence_logprobs(model, prompts, responses, tok.pad_token_id)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        ids = torch.tensor([p + r])
        lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        want = sum(lp[len(p) - 1 + t, r[t]].item() for t in range(len(r)))
        assert got[i].item() == pytest.approx(want, abs=1e-4)
