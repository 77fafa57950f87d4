import math

import pytest
import torch

from credo.config import AlgoConfig
from credo.credit import ADVANTAGES
from credo.credit.robust_mean import barron_rho, m_estimate, num_blocks, robust_mean, select_alpha


def test_barron_loss_limits():
    e = torch.linspace(-3, 3, 13, dtype=torch.float64)
    assert torch.allclose(barron_rho(e, 2.0), e * e / 2)
    assert torch.allclose(barron_rho(e, 1.9999999), e * e / 2, atol=1e-5)
    assert torch.allclose(barron_rho(e, 1e-7), torch.log1p(e * e / 2), atol=1e-6)
    assert torch.allclose(barron_rho(e, -1e7), 1 - torch.exp(-e * e / 2), atol=1e-6)
    assert torch.allclose(barron_rho(e, -math.inf), 1 - torch.exp(-e * e / 2))
    assert torch.allclose(barron_rho(e, 1.0), torch.sqrt(e * e + 1) - 1)  # Charbonnier / pseudo-Huber


def test_block_rule_and_small_sample_fallback():
    assert [num_blocks(n) for n in (3, 8, 10, 30, 50, 1000)] == [2, 2, 2, 6, 10, 10]
    x = torch.tensor([0.0, 10.0])
    assert float(robust_mean(x, "are")) == 5.0  # N < 3: plain mean


def test_shape_search_prefers_quadratic_on_gaussian_and_robust_on_outliers():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, generator=g, dtype=torch.float64)
    tau = 3 * float(x.std())
    assert select_alpha(x - x.mean(), tau) > 1.0
    y = x.clone()
    y[:60] = 15 + torch.randn(60, generator=g, dtype=torch.float64)
    assert select_alpha(y - y.mean(), 3 * float(y.std())) < select_alpha(x - x.mean(), tau)


def _rho(e, a):
    if a == 2:
        return e * e / 2
    if a == 0:
        return math.log(e * e / 2 + 1)
    b = abs(a - 2)
    return b / a * ((e * e / b + 1) ** (a / 2) - 1)


def _nll(res, a, tau, n=200):
    """Independent NLL: Simpson's rule on n intervals for Z(a) over [-tau, tau], plain floats."""
    h = 2 * tau / n
    z = sum((1 if i in (0, n) else 4 if i % 2 else 2) * math.exp(-_rho(-tau + i * h, a)) for i in range(n + 1)) * h / 3
    return len(res) * math.log(z) + sum(_rho(r, a) for r in res)


def test_alpha_star_of_a_block_by_hand():
    """Block [0, 0, 0, 0, 4]: mean 0.8, squared residuals u = [0.64]*4 + [10.24] (the reference fits α* to u), τ =
    3·std = 3·sqrt(3.2) = 5.367. A scan of N·log Z(α) + Σ ρ(u_i, α) over α ∈ [-10, 2] in steps of 0.005 (Simpson, 2000
    intervals) gives α* = -4.13. Fitting the plain residuals e = x - mean instead gives α* = 0.875 (quadratic-ish)."""
    x = torch.tensor([0.0, 0.0, 0.0, 0.0, 4.0], dtype=torch.float64)
    u = ((x - 0.8) ** 2).tolist()
    tau = 3 * math.sqrt(3.2)
    got = select_alpha(torch.tensor(u, dtype=torch.float64), tau)
    assert got == pytest.approx(-4.13, abs=0.0125 + 0.005)  # grid step 0.025
    coarse = min((_nll(u, a / 20, tau), a / 20) for a in range(-200, 41))  # the same scan at step 0.05, in the test
    assert coarse[1] == pytest.approx(-4.15, abs=0.051)
    e = (x - 0.8).tolist()
    assert select_alpha(torch.tensor(e, dtype=torch.float64), tau) == pytest.approx(0.875, abs=0.02)
    assert m_estimate(x) == m_estimate(x, alpha=-4.125)  # the estimator uses the α* fitted to u (grid point)
    y = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 10.0], dtype=torch.float64)  # scan: α* = -1.395
    assert select_alpha((y - y.mean()) ** 2, 3 * float(y.std())) == pytest.approx(-1.395, abs=0.018)


def test_one_gnc_irls_step_by_hand():
    """x = [0, 0, 0, 0, 4], α* fixed at -2. μ0 = 0.8, u = [0.64]*4 + [10.24]; m0 = 1/(2·10.24 - 1) = 0.0513347;
    a = (-2·m0 + 2)/(m0 + 1) = 1.8046875; w_i = (u_i^2/|a - 2| + 1)^(a/2 - 1) = 0.8954770 (u = 0.64) and 0.5411681
    (u = 10.24); μ1 = 4·0.5411681 / (4·0.8954770 + 0.5411681) = 0.5250140. A Huber/Cauchy/clean-residual weight, or
    no GNC (a = α* at once), gives another value."""
    x = torch.tensor([0.0, 0.0, 0.0, 0.0, 4.0], dtype=torch.float64)
    assert m_estimate(x, faithful=True, alpha=-2.0, max_iter=1) == pytest.approx(0.5250139610711546, abs=1e-9)
    assert m_estimate(x, faithful=True, alpha=-2.0) < 1e-3  # the later iterations drop the outlier entirely
    assert m_estimate(x, faithful=False, alpha=-2.0, max_iter=1) != pytest.approx(0.5250139610711546, abs=1e-3)


def test_blocks_are_contiguous_and_aggregated_by_their_median():
    """N = 11 → K = 2 blocks [0:5], [5:11] (the last takes the remainder); constant blocks 0 and 1 → estimates 0 and
    1 → the midpoint 0.5 (mean 6/11 = 0.545, median 1, a random split something else)."""
    x = torch.tensor([0.0] * 5 + [1.0] * 6, dtype=torch.float64)
    for method in ("are", "mom"):
        assert float(robust_mean(x, method)) == 0.5
    y = torch.tensor([5.0] * 5 + [0.0] * 5 + [1.0] * 5, dtype=torch.float64)  # K = 3: median of 5, 0, 1 (mean 2)
    assert float(robust_mean(y, "are")) == 1.0


def test_fallbacks_to_the_mean_are_counted_in_the_advantage_metrics():
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0])  # group 0: 2 samples (< 3: mean), group 1: 5
    groups = torch.tensor([0, 0, 1, 1, 1, 1, 1])
    for name in ("grpo", "dr_grpo"):
        _, m = ADVANTAGES.get(name)(rewards, groups, AlgoConfig(baseline="are"))
        assert m["critic/baseline_fallback_frac"] == 0.5
        _, m = ADVANTAGES.get(name)(rewards, groups, AlgoConfig(baseline="mean"))
        assert m["critic/baseline_fallback_frac"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_are_equals_the_mean_on_clean_data(seed):
    """The faithful variant (α* fitted to squared residuals, 4th-power weights) is the less efficient one: its block
    estimates on unit-variance blocks of 100 sit up to 0.25 from the block means; measured |ARE - mean| <= 0.098
    over seeds 0-5 (clean variant <= 0.047)."""
    x = 2 + torch.randn(1000, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert abs(float(robust_mean(x, "are", True)) - float(x.mean())) < 0.15
    assert abs(float(robust_mean(x, "are", False)) - float(x.mean())) < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_are_stays_bounded_at_40_percent_outliers(seed):
    """Measured (seed 0): mean 9.15, median 2.98, MoM 9.14, ARE 2.04 (faithful) / 2.14 (clean); true mean 2."""
    g = torch.Generator().manual_seed(seed)
    x = 2 + torch.randn(1000, generator=g, dtype=torch.float64)
    idx = torch.randperm(1000, generator=g)[:400]
    x[idx] = 20 + 5 * torch.randn(400, generator=g, dtype=torch.float64)
    assert abs(float(x.mean()) - 2) > 5
    assert abs(float(robust_mean(x, "are", faithful=True)) - 2) < 0.3
    assert abs(float(robust_mean(x, "are", faithful=False)) - 2) < 0.5


def test_are_baseline_in_grpo_keeps_advantage_signs_under_an_outlier():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 100.0])  # one corrupted reward
    groups = torch.zeros(8, dtype=torch.long)
    plain, _ = ADVANTAGES.get("grpo")(rewards, groups, AlgoConfig(baseline="mean"))
    robust, _ = ADVANTAGES.get("grpo")(rewards, groups, AlgoConfig(baseline="are"))
    assert torch.all(plain[:3] < 0)  # the outlier drags the mean above every correct answer
    assert torch.all(robust[:3] > 0) and torch.all(robust[3:7] < 0)


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="mean, median, mom or are"):
        robust_mean(torch.arange(10.0), "trimmed")
