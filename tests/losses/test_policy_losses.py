import math

import pytest
import torch

from credo.config import AlgoConfig
from credo.losses import POLICY_LOSSES, agg_loss, global_counts, kl_k3


def clip_ref(r, a, cfg):
    loss = max(-a * r, -a * min(max(r, 1 - cfg.eps_low), 1 + cfg.eps_high))
    if cfg.dual_clip and a < 0:
        loss = min(loss, -a * cfg.dual_clip)
    return loss


def ref_ppo(lp, old, adv, mask, cfg):
    c = cfg.log_ratio_clamp
    return [[clip_ref(math.exp(min(max(lp[b][t] - old[b][t], -c), c)), adv[b][t], cfg) if mask[b][t] else 0.0
             for t in range(len(lp[b]))] for b in range(len(lp))]


def ref_gspo(lp, old, adv, mask, cfg):
    out = []
    for b in range(len(lp)):
        idx = [t for t in range(len(lp[b])) if mask[b][t]]
        lr = sum(lp[b][t] - old[b][t] for t in idx) / max(len(idx), 1)
        a = sum(adv[b][t] for t in idx) / max(len(idx), 1)
        s = math.exp(min(max(lr, -cfg.log_ratio_clamp), cfg.log_ratio_clamp))
        out.append([clip_ref(s, a, cfg) if mask[b][t] else 0.0 for t in range(len(lp[b]))])
    return out


def rand_batch(seed, B=6, T=7, noise=0.3, seq_adv=True):
    g = torch.Generator().manual_seed(seed)
    lp = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3
    old = lp + noise * torch.randn(B, T, generator=g, dtype=torch.float64)
    adv = torch.randn(B, 1 if seq_adv else T, generator=g, dtype=torch.float64).expand(B, T).contiguous()
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[0] = T
    mask = (torch.arange(T)[None] < lengths[:, None]).double()
    return lp, old, adv, mask


CFGS = [AlgoConfig(), AlgoConfig(eps_low=0.2, eps_high=0.28, dual_clip=3.0),
        AlgoConfig(eps_low=0.05, eps_high=0.1, log_ratio_clamp=0.15)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ci", range(len(CFGS)))
@pytest.mark.parametrize("name,ref", [("ppo_clip", ref_ppo), ("gspo", ref_gspo)])
def test_matches_reference(name, ref, ci, seed):
    cfg = CFGS[ci]
    lp, old, adv, mask = rand_batch(seed, noise=1.0, seq_adv=(name == "gspo") or seed % 2 == 0)
    loss, metrics = POLICY_LOSSES.get(name)(lp, old, adv, mask, cfg)
    expect = torch.tensor(ref(lp.tolist(), old.tolist(), adv.tolist(), mask.tolist(), cfg), dtype=torch.float64)
    torch.testing.assert_close(loss, expect)
    assert 0.0 <= metrics["actor/clipfrac"] <= 1.0
    assert metrics["actor/clipfrac"] == pytest.approx(metrics["actor/clipfrac_low"] + metrics["actor/clipfrac_high"])
    assert ("actor/dual_clip_frac" in metrics) == bool(cfg.dual_clip)


def _grad(name, lp, old, adv, mask, cfg, mode):
    x = lp.clone().requires_grad_(True)
    loss, _ = POLICY_LOSSES.get(name)(x, old, adv, mask, cfg)
    n_tok, n_seq = global_counts(mask)
    out = agg_loss(loss, mask, mode, num_tokens=n_tok, num_seqs=n_seq)
    out.backward()
    return loss.detach(), out.detach(), x.grad


@pytest.mark.parametrize("seed", range(4))
def test_gspo_equals_ppo_clip_for_length_one(seed):
    lp, old, adv, _ = rand_batch(seed, noise=0.5)
    mask = torch.zeros_like(lp)
    mask[torch.arange(lp.shape[0]), torch.randint(0, lp.shape[1], (lp.shape[0],))] = 1.0
    cfg = AlgoConfig(eps_low=0.1, eps_high=0.2, dual_clip=2.0)
    a = _grad("gspo", lp, old, adv, mask, cfg, "token_mean")
    b = _grad("ppo_clip", lp, old, adv, mask, cfg, "token_mean")
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", ["seq_mean_token_mean", "token_mean"])
def test_gspo_token_equals_gspo(seed, mode):
    lp, old, adv, mask = rand_batch(seed, noise=0.3)
    cfg = AlgoConfig(eps_low=0.05, eps_high=0.08)
    a = _grad("gspo", lp, old, adv, mask, cfg, mode)
    b = _grad("gspo_token", lp, old, adv, mask, cfg, mode)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    assert a[2].abs().sum() > 0 and (a[2][mask > 0] == 0).any()  # some sequences clipped, some not


def test_ppo_clip_fractions_hand():
    r = torch.tensor([[1.5, 0.5, 1.0, 1.1, 0.5, 3.0]])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0, 1.0]])
    mask = torch.tensor([[1.0, 1, 1, 1, 1, 0]])
    loss, m = POLICY_LOSSES.get("ppo_clip")(r.log(), torch.zeros_like(r), adv, mask, AlgoConfig())
    torch.testing.assert_close(loss, torch.tensor([[-1.2, 0.8, -1.0, 1.1, -0.5, 0.0]]))
    assert m["actor/clipfrac"] == pytest.approx(0.4)
    assert m["actor/clipfrac_low"] == pytest.approx(0.2) and m["actor/clipfrac_high"] == pytest.approx(0.2)
    assert m["actor/ratio_mean"] == pytest.approx((1.5 + 0.5 + 1.0 + 1.1 + 0.5) / 5)
    assert m["actor/ppo_kl"] == pytest.approx(-sum(math.log(x) for x in [1.5, 0.5, 1.0, 1.1, 0.5]) / 5)


def test_gspo_clipfrac_counts_sequences():
    # row 0: 4 tokens, ratio e^0.5 > 1.2 with A > 0 -> clipped; row 1: 1 token, ratio 1 -> not clipped
    lp = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 0, 0, 0]])
    _, m = POLICY_LOSSES.get("gspo")(lp, torch.zeros_like(lp), torch.ones_like(lp), mask, AlgoConfig())
    assert m["actor/clipfrac"] == 0.5 and m["actor/clipfrac_high"] == 0.5
    _, m = POLICY_LOSSES.get("gspo_token")(lp, torch.zeros_like(lp), torch.ones_like(lp), mask, AlgoConfig())
    assert m["actor/clipfrac"] == pytest.approx(0.8)  # token-weighted


def test_dual_clip_hand():
    r = torch.tensor([[5.0, 2.0, 5.0]], requires_grad=True)
    adv = torch.tensor([[-1.0, -1.0, 1.0]])
    cfg = AlgoConfig(dual_clip=3.0)
    loss, m = POLICY_LOSSES.get("ppo_clip")(r.log(), torch.zeros(1, 3), adv, torch.ones(1, 3), cfg)
    torch.testing.assert_close(loss, torch.tensor([[3.0, 2.0, -1.2]]))
    assert m["actor/dual_clip_frac"] == pytest.approx(1 / 3)
    loss.sum().backward()
    torch.testing.assert_close(r.grad, torch.tensor([[0.0, 1.0, 0.0]]))
    _, m = POLICY_LOSSES.get("ppo_clip")(r.log(), torch.zeros(1, 3), adv, torch.ones(1, 3), AlgoConfig())
    assert "actor/dual_clip_frac" not in m
    with pytest.raises(ValueError, match="dual_clip"):
        POLICY_LOSSES.get("ppo_clip")(r.log(), torch.zeros(1, 3), adv, torch.ones(1, 3), AlgoConfig(dual_clip=0.5))


@pytest.mark.parametrize("name", ["ppo_clip", "gspo", "gspo_token"])
def test_nan_padding_does_not_leak(name):
    lp = torch.tensor([[-1.0, float("nan")], [float("nan"), float("inf")]], requires_grad=True)
    old = torch.tensor([[-1.1, float("-inf")], [0.0, float("nan")]])
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    loss, m = POLICY_LOSSES.get(name)(lp, old, torch.ones(2, 2), mask, AlgoConfig())
    agg_loss(loss, mask, "seq_mean_token_mean", num_tokens=1, num_seqs=1).backward()
    assert torch.isfinite(loss).all() and torch.isfinite(lp.grad).all()
    assert all(math.isfinite(v) for v in m.values())


def test_unknown_loss_suggests():
    with pytest.raises(KeyError, match="did you mean 'gspo_token'"):
        POLICY_LOSSES.get("gspo_tokn")


def test_kl_k3():
    lp = torch.tensor([[-1.0, -2.0, -0.5, 0.0]])
    ref = torch.tensor([[-1.0, -1.0, -3.0, -100.0]])
    expect = [math.exp(d) - d - 1 for d in [0.0, 1.0, -2.5, -20.0]]
    torch.testing.assert_close(kl_k3(lp, ref), torch.tensor([expect]))
    assert (kl_k3(torch.randn(5, 9), torch.randn(5, 9)) >= 0).all()
    assert torch.isfinite(kl_k3(torch.tensor([-500.0]), torch.tensor([0.0]))).all()


def test_gspo_token_robust_sequence_ratio_ignores_an_outlier_token():
    from credo.config import AlgoConfig
    from credo.losses import POLICY_LOSSES

    torch.manual_seed(0)
    old = torch.randn(2, 12, dtype=torch.float64)
    new = old + 0.01  # every token log-ratio 0.01 ...
    new[0, 3] += 5.0  # ... except one outlier in row 0
    mask = torch.ones(2, 12, dtype=torch.float64)
    mask[1, 8:] = 0  # row 1 has 8 valid tokens: below the 10-token minimum, keeps the mean
    adv = torch.ones(2, 12, dtype=torch.float64)
    fn = POLICY_LOSSES.get("gspo_token")
    _, m_mean = fn(new, old, adv, mask, AlgoConfig(eps_low=10.0, eps_high=10.0))
    _, m_are = fn(new, old, adv, mask, AlgoConfig(eps_low=10.0, eps_high=10.0, seq_ratio_estimator="are"))
    # ratio_mean is the token mean of s_{i,t} = s_i: row 0 has s = exp(0.01 + 5/12) with the mean, exp(0.01) with ARE
    mean_ratio = (12 * math.exp(0.01 + 5 / 12) + 8 * math.exp(0.01)) / 20
    assert m_mean["actor/ratio_mean"] == pytest.approx(mean_ratio, rel=1e-9)
    row0 = math.log((20 * m_are["actor/ratio_mean"] - 8 * math.exp(0.01)) / 12)  # row 1 kept its mean, exp(0.01)
    assert abs(row0 - 0.01) < 0.02  # measured 0.0167; the plain mean gives 0.01 + 5/12
