"""Small helpers the experiment scripts (``experiments/*/``) share: integer-list arguments, inverse-CDF draws from
pre-drawn uniforms (simulated bandits), correlations, and ``mean ± spread`` cells of result tables."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

import numpy as np
import torch


def int_list(spec: str) -> list[int]:
    """``"0-19"`` → ``[0, 1, ..., 19]`` (inclusive), ``"16,32"`` → ``[16, 32]``, ``"0-2,7"`` → ``[0, 1, 2, 7]``:
    seed lists and sizes given on the command line."""
    out: list[int] = []
    for item in spec.split(","):
        lo, _, hi = item.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Categorical draws by inverse CDF: for each row of ``probs`` [..., A] (weights, need not sum to 1) and each of
    its uniforms ``u`` [..., n] in [0, 1), the first index whose cumulative weight reaches ``u`` · total
    → int64 [..., n] in [0, A). Seeded uniforms drawn once make every arm of a seed see the same randomness."""
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[..., -1:]).clamp(max=probs.shape[-1] - 1)


def mean_sd(values: Iterable[float], fmt: str = ".3f") -> str:
    """``"mean ± sd"`` (sample standard deviation) of the values; one value alone, ``"x"``; none, ``"–"``."""
    xs = list(values)
    if not xs:
        return "–"
    return f"{statistics.mean(xs):{fmt}} ± {statistics.stdev(xs):{fmt}}" if len(xs) > 1 else f"{xs[0]:{fmt}}"


def mean_se(values: Iterable[float]) -> str:
    """``"mean ± standard error"`` (sample sd / sqrt(n)) to 3 decimals; one value alone, ``"x"``."""
    xs = np.asarray(list(values), dtype=float)
    return f"{xs.mean():.3f} ± {xs.std(ddof=1) / np.sqrt(len(xs)):.3f}" if len(xs) > 1 else f"{xs.mean():.3f}"


def pearson(a: Iterable[float], b: Iterable[float]) -> float:
    """Pearson correlation of two equal-length sequences; NaN when either is constant."""
    x, y = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / den) if den > 0 else float("nan")


def ranks(values: Iterable[float]) -> np.ndarray:
    """0-based ranks, ties sharing the mean of the ranks they span: ``[3, 1, 3]`` → ``[1.5, 0, 1.5]``."""
    x = np.asarray(list(values), dtype=float)
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x), dtype=float)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=r) / counts)[inverse]


def spearman(a: Iterable[float], b: Iterable[float]) -> float:
    """Spearman rank correlation (Pearson on tie-averaged ranks); NaN when either is constant."""
    return pearson(ranks(a), ranks(b))


def auroc(pos: Iterable[float], neg: Iterable[float]) -> float:
    """P(a positive's score > a negative's score), ties counting 1/2 (Mann-Whitney U / (n_pos · n_neg), from
    tie-averaged ranks); NaN when either side is empty."""
    p, q = list(pos), list(neg)
    if not p or not q:
        return float("nan")
    u = (ranks(p + q)[: len(p)] + 1).sum() - len(p) * (len(p) + 1) / 2
    return float(u / (len(p) * len(q)))


# two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..10 (the seed counts experiments use)
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def mean_ci95(values: Iterable[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval of the mean of 2–11 values (paired per-seed differences); one
    value gives (x, nan, nan)."""
    xs = np.asarray(list(values), dtype=float)
    if len(xs) < 2:
        return float(xs.mean()) if len(xs) else float("nan"), float("nan"), float("nan")
    if len(xs) - 1 > len(T975):
        raise ValueError(f"mean_ci95: {len(xs)} values; the t table covers 2-{len(T975) + 1}")
    half = T975[len(xs) - 2] * xs.std(ddof=1) / np.sqrt(len(xs))
    return float(xs.mean()), float(xs.mean() - half), float(xs.mean() + half)
