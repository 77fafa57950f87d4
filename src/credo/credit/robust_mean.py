"""Robust group centres: median, median-of-means, and ARE (adaptive robust estimator).

ARE = median over K contiguous blocks of per-block M-estimates under Barron's adaptive loss. Per block: the loss shape
α* is chosen by the negative log-likelihood of the truncated density exp(-ρ)/Z(α) on [-3σ, 3σ] over α ∈ [-10, 2];
the centre is then found by IRLS with graduated non-convexity (GNC), the effective shape moving from 2 (quadratic)
towards α*. K = min(10, max(2, N // 5)); fewer than 3 values, or a numerical failure, fall back to the plain mean.

``faithful=True`` reproduces the reference code: the IRLS weight uses the squared residual *squared again* (a 4th
power) and no scale. ``faithful=False`` is the clean form: residual / scale, scale = 1.4826 · MAD (std if MAD = 0).
The α* search is a 49-point grid over [-10, 2] (the reference uses a bounded Newton search).
"""

from __future__ import annotations

import math

import torch

from credo.credit.advantages import BASELINES

ALPHA_GRID = torch.linspace(-10.0, 2.0, 49, dtype=torch.float64)


def barron_rho(e: torch.Tensor, a: float) -> torch.Tensor:
    """Barron's general adaptive loss ρ(e, a) with its limits at a = 2, 0 and -inf. e: any shape (float64)."""
    e2 = e * e
    if a == 2.0:
        return e2 / 2
    if a == 0.0:
        return torch.log1p(e2 / 2)
    if math.isinf(a) and a < 0:
        return -torch.expm1(-e2 / 2)
    b = abs(a - 2.0)
    return b / a * (torch.pow(e2 / b + 1.0, a / 2.0) - 1.0)


def select_alpha(x: torch.Tensor) -> float:
    """α* = argmin over the grid of N·log Z(α) + Σ ρ(e_i, α), e = x - mean, Z on [-3σ, 3σ] (trapezoid, 201 points)."""
    e = x - x.mean()
    tau = 3.0 * float(x.std()) if x.numel() > 1 else 0.0
    if not tau > 0:
        return 2.0
    grid = torch.linspace(-tau, tau, 201, dtype=torch.float64)
    best, best_a = math.inf, 2.0
    for a in ALPHA_GRID.tolist():
        z = torch.trapezoid(torch.exp(-barron_rho(grid, a)), grid)
        nll = x.numel() * math.log(float(z)) + float(barron_rho(e, a).sum())
        if nll < best:
            best, best_a = nll, a
    return best_a


def m_estimate(x: torch.Tensor, faithful: bool = True, max_iter: int = 20, tol: float = 1e-6) -> float:
    """One block's adaptive-loss M-estimate of location by GNC-IRLS (x: 1-D float64)."""
    alpha = select_alpha(x)
    mu = float(x.mean())
    u = (x - mu) ** 2
    if faithful:
        r_scale = 1.0
    else:
        mad = float((x - x.median()).abs().median()) * 1.4826
        r_scale = mad if mad > 0 else float(x.std()) or 1.0
    top = 2.0 * float(u.max()) - 1.0
    m = max(1.0 / top, 1e-3) if top > 0 else 1e-3
    for _ in range(max_iter):
        if m > 1e3:
            break
        a_t = (alpha * m + 2.0) / (m + 1.0)
        r = u * u if faithful else u / r_scale**2
        b = abs(a_t - 2.0)
        w = torch.ones_like(x) if b < 1e-12 else torch.pow(r / b + 1.0, a_t / 2.0 - 1.0)
        new = float((w * x).sum() / w.sum())
        u = (x - new) ** 2
        done = abs(new - mu) < tol
        mu, m = new, m * 1.4
        if done:
            break
    return mu


def num_blocks(n: int) -> int:
    return min(10, max(2, n // 5))


def _blocks(x: torch.Tensor) -> list[torch.Tensor]:
    """K contiguous blocks; the last takes the remainder."""
    k = num_blocks(x.numel())
    size = x.numel() // k
    return [x[i * size:(i + 1) * size] if i < k - 1 else x[i * size:] for i in range(k)]


def robust_mean(x: torch.Tensor, method: str = "are", faithful: bool = True) -> torch.Tensor:
    """Location estimate of 1-D ``x`` → 0-dim tensor in x's dtype. method: mean | median | mom | are."""
    v = x.detach().double().flatten()
    if method == "mean" or v.numel() < 3:
        return x.mean()
    if method == "median":
        return x.median()
    try:
        if method == "mom":
            est = [float(b.mean()) for b in _blocks(v)]
        elif method == "are":
            est = [m_estimate(b, faithful) for b in _blocks(v)]
        else:
            raise ValueError(f"robust_mean method must be mean, median, mom or are, got {method!r}")
        out = float(torch.tensor(est, dtype=torch.float64).median()) if len(est) % 2 else \
            float(torch.tensor(est, dtype=torch.float64).sort().values[len(est) // 2 - 1:len(est) // 2 + 1].mean())
        if not math.isfinite(out):
            raise FloatingPointError(out)
    except (FloatingPointError, RuntimeError):
        return x.mean()
    return torch.tensor(out, dtype=x.dtype)


@BASELINES.register("median")
def median_baseline(values: torch.Tensor) -> torch.Tensor:
    """Group median (lower median for even sizes, as torch.median)."""
    return values.median()


@BASELINES.register("mom")
def mom_baseline(values: torch.Tensor) -> torch.Tensor:
    """Median of K contiguous block means."""
    return robust_mean(values, "mom")


@BASELINES.register("are")
def are_baseline(values: torch.Tensor) -> torch.Tensor:
    """ARE, faithful-to-code variant."""
    return robust_mean(values, "are", faithful=True)


@BASELINES.register("are_clean")
def are_clean_baseline(values: torch.Tensor) -> torch.Tensor:
    """ARE with residual / scale (1.4826 · MAD) instead of the 4th-power residual."""
    return robust_mean(values, "are", faithful=False)
