"""PBLoRA's ΔW against its two-block form; MoSLoRA's identity cases; parameter counts."""

import pytest
import torch
from torch import nn

from credo.arm.adapters import MoSLoRALinear, PBLoRALinear, Preference, trainable_parameters, wrap_model


def test_pblora_delta_weight_is_two_block_form():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    pref = Preference(2)
    pref.set([0.3, 0.7])
    layer = PBLoRALinear(base, pref, r1=2, r2=3, alpha=6.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    A1, A2 = layer.lora_A[:2], layer.lora_A[2:]
    B1, B2 = layer.lora_B[:, :2], layer.lora_B[:, 2:]
    w2 = (0.3 * layer.lora_W2[0] + 0.7 * layer.lora_W2[1]).reshape(3, 3)
    want = (6.0 / 3) * (B1 @ layer.lora_W1 @ A1 + B2 @ w2 @ A2)
    torch.testing.assert_close(layer.delta_weight(), want)
    x = torch.randn(4, 6)
    torch.testing.assert_close(layer(x), base(x) + x @ want.T, atol=1e-5, rtol=1e-5)
    pref.set([1.0, 0.0])  # λ changes the update through W2 only
    w2 = layer.lora_W2[0].reshape(3, 3)
    torch.testing.assert_close(layer.delta_weight(), 2.0 * (B1 @ layer.lora_W1 @ A1 + B2 @ w2 @ A2))


def test_moslora_identity_modulation_is_plain_lora_and_zero_b_is_the_base():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    pref = Preference(2, torch.randn(2, 8))
    pref.set([0.4, 0.6])
    layer = MoSLoRALinear(base, pref, r=3, alpha=6.0)
    x = torch.randn(4, 6)
    with torch.no_grad():
        layer.lora_B.normal_()
    assert torch.count_nonzero(layer.film.weight) == 0  # γ = δ = 0 at initialisation
    torch.testing.assert_close(layer(x), base(x) + 2.0 * (x @ layer.lora_A.T) @ layer.lora_B.T)
    with torch.no_grad():
        layer.film.weight.normal_()
        layer.lora_B.zero_()
    torch.testing.assert_close(layer(x), base(x))


def test_moslora_film_from_mixed_preference_vector():
    torch.manual_seed(0)
    o = torch.randn(2, 8)
    pref = Preference(2, o)
    pref.set([0.25, 0.75])
    m = 0.25 * o[0] + 0.75 * o[1]
    torch.testing.assert_close(pref.vector(), m / m.norm())
    layer = MoSLoRALinear(nn.Linear(6, 5), pref, r=3, alpha=3.0)
    with torch.no_grad():
        layer.film.weight.normal_()
        layer.lora_B.normal_()
    x = torch.randn(4, 6)
    gd = layer.film.weight @ (m / m.norm())
    h = (1 + gd[:3]) * (x @ layer.lora_A.T) + gd[3:]
    torch.testing.assert_close(layer(x), layer.base(x) + h @ layer.lora_B.T, atol=1e-5, rtol=1e-5)
    assert torch.equal(Preference(2).vector(), torch.tensor([0.5, 0.5]))  # one-hot ablation: m(λ) = λ


@pytest.mark.parametrize("kind,modulation", [("pblora", "shared"), ("moslora", "shared"), ("moslora", "layer")])
def test_wrap_model_freezes_base_and_counts(tiny_policy, kind, modulation):
    model, _ = tiny_policy  # 2 layers, hidden 64; q/k/v are 64 → 64
    pref = wrap_model(model, kind, ["q_proj", "k_proj", "v_proj"], 2, r=8, r1=4, r2=4, modulation=modulation,
                      objective_vectors=torch.randn(2, 64))
    n = 6  # wrapped layers
    if kind == "pblora":
        want = n * (8 * 64 + 64 * 8 + 4 * 4 + 2 * 16)
    else:
        want = n * (8 * 64 + 64 * 8) + (1 if modulation == "shared" else n) * 16 * 64
    assert trainable_parameters(model) == want
    assert pref is model.arm_preference
    out = model(input_ids=torch.tensor([[1, 5, 6]])).logits
    assert out.shape[-1] == model.config.vocab_size


def test_wrap_model_names_missing_targets(tiny_policy):
    with pytest.raises(ValueError, match="target_modules"):
        wrap_model(tiny_policy[0], "moslora", ["c_attn"], 2)
