import math

import pytest
import torch

from credo.config import AlgoConfig
from credo.credit import ADVANTAGES
from credo.credit.robust_mean import barron_rho, num_blocks, robust_mean, select_alpha


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
    assert select_alpha(x) > 1.0
    y = x.clone()
    y[:60] = 15 + torch.randn(60, generator=g, dtype=torch.float64)
    assert select_alpha(y) < select_alpha(x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_are_equals_the_mean_on_clean_data(seed):
    x = 2 + torch.randn(1000, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    for faithful in (True, False):
        assert abs(float(robust_mean(x, "are", faithful)) - float(x.mean())) < 0.05


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
