import pytest
import torch

from credo.config import AlgoConfig
from credo.losses import AGG_MODES, POLICY_LOSSES, agg_loss, global_counts

LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("mode,expect", [
    ("token_mean", (1 + 2 + 4 + 5 + 6) / 5),
    ("seq_mean_token_mean", (1.5 + 5.0) / 2),
    ("seq_mean_token_sum_norm", (1 + 2 + 4 + 5 + 6) / (2 * 4.0)),
])
def test_hand_cases(mode, expect):
    assert global_counts(MASK) == (5.0, 2.0)
    out = agg_loss(LOSS, MASK, mode, num_tokens=5, num_seqs=2, norm_const=4.0)
    assert out.dim() == 0 and out.item() == pytest.approx(expect)


def test_empty_rows_and_padding_are_safe():
    loss = torch.tensor([[float("nan"), float("inf")], [1.0, float("nan")]])
    mask = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    for mode in AGG_MODES:
        assert agg_loss(loss, mask, mode, num_tokens=1, num_seqs=1).item() == 1.0
        assert agg_loss(loss, torch.zeros(2, 2), mode, num_tokens=0, num_seqs=0).item() == 0.0


def test_unknown_mode_and_bad_norm():
    with pytest.raises(ValueError, match="seq_mean_token_mean"):
        agg_loss(LOSS, MASK, "seq_mean", num_tokens=5, num_seqs=2)
    with pytest.raises(ValueError, match="norm_const"):
        agg_loss(LOSS, MASK, "seq_mean_token_sum_norm", num_tokens=5, num_seqs=2, norm_const=0.0)


def _setup(seed, B=64, T=6, D=5, V=7):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(D, V)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.randn(B, T, D, generator=g)
    actions = torch.randint(0, V, (B, T), generator=g)
    with torch.no_grad():
        old = torch.log_softmax(model(x), -1).gather(-1, actions[..., None])[..., 0]
        old = old + 0.2 * torch.randn(B, T, generator=g)
    adv = torch.randn(B, 1, generator=g).expand(B, T).contiguous()
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).float()
    return model, x, actions, old, adv, mask


def _grads(model, x, actions, old, adv, mask, name, mode, micro, *, global_norm=True):
    model.zero_grad()
    n_tok, n_seq = global_counts(mask)
    total = 0.0
    for s in range(0, x.shape[0], micro):
        sl = slice(s, s + micro)
        lp = torch.log_softmax(model(x[sl]), -1).gather(-1, actions[sl][..., None])[..., 0]
        loss, _ = POLICY_LOSSES.get(name)(lp, old[sl], adv[sl], mask[sl], AlgoConfig(eps_low=0.1, eps_high=0.15))
        if not global_norm:  # the classic bug: normalise each micro-batch by its own counts ...
            n_tok, n_seq = global_counts(mask[sl])
        out = agg_loss(loss, mask[sl], mode, num_tokens=n_tok, num_seqs=n_seq, norm_const=6.0)
        if not global_norm:  # ... then divide by the number of micro-batches
            out = out * micro / x.shape[0]
        out.backward()
        total += out.item()
    return total, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("name", ["ppo_clip", "gspo", "gspo_token"])
def test_micro_batch_accumulation_is_exact(name, mode):
    model, x, actions, old, adv, mask = _setup(0)
    assert (mask.sum(-1) == 0).any() and len(set(mask.sum(-1).tolist())) > 3
    full, g_full = _grads(model, x, actions, old, adv, mask, name, mode, micro=64)
    acc, g_acc = _grads(model, x, actions, old, adv, mask, name, mode, micro=16)
    assert acc == pytest.approx(full, abs=1e-6)
    assert any(g.abs().max() > 1e-3 for g in g_full)
    for a, b in zip(g_full, g_acc):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_per_micro_batch_normalisation_would_differ():
    model, x, actions, old, adv, mask = _setup(1)
    _, g_full = _grads(model, x, actions, old, adv, mask, "ppo_clip", "token_mean", micro=64)
    _, g_bad = _grads(model, x, actions, old, adv, mask, "ppo_clip", "token_mean", micro=16, global_norm=False)
    assert max((a - b).abs().max().item() for a, b in zip(g_full, g_bad)) > 1e-4


def test_grpo_preset_aggregates_per_sequence_and_dapo_per_token():
    """GRPO (DeepSeekMath): 1/G Σ_i 1/|o_i| Σ_t; DAPO: Σ over all tokens / all tokens. A 4-token row of loss 1 and a
    1-token row of loss 3: per sequence (1 + 3) / 2 = 2; per token (4·1 + 3) / 5 = 1.4."""
    from credo.config import load_config, recipe_path

    loss = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    for recipe, want in (("grpo", 2.0), ("dapo", 1.4)):
        mode = load_config(recipe_path(recipe)).algo.loss_agg
        assert agg_loss(loss, mask, mode, num_tokens=5, num_seqs=2).item() == pytest.approx(want), recipe
