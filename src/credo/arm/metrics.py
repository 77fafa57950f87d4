"""Multi-objective decoding metrics over a λ grid: hypervolume, MIP and monotonicity (all objectives maximised)."""

from __future__ import annotations

import itertools

import numpy as np


def lambda_grid(k: int, points: int = 11) -> np.ndarray:
    """Preference vectors on the simplex Δ^k: [m, k]. k = 2: ``points`` evenly spaced (1, 0) … (0, 1); k > 2: the
    simplex lattice of the smallest resolution with at least ``points`` vectors."""
    if k == 1:
        return np.ones((1, 1))
    if k == 2:
        t = np.linspace(1.0, 0.0, points)
        return np.stack([t, 1.0 - t], axis=1)
    n = 1
    while True:
        grid = [c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n]
        if len(grid) >= points:
            return np.array(grid, dtype=float) / n
        n += 1


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by ``points`` [n, k] and bounded below by the reference point ``ref`` [k] (maximisation);
    points not strictly above ``ref`` in every objective add nothing. Exact (recursive slicing)."""
    p = np.asarray(points, dtype=float).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=float)
    p = p[(p > ref).all(axis=1)]
    return _hv(p, ref)


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    if len(p) == 0:
        return 0.0
    if p.shape[1] == 1:
        return float(p[:, 0].max() - ref[0])
    order = np.argsort(-p[:, -1])
    p = p[order]
    vol = 0.0
    for i in range(len(p)):
        low = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        height = p[i, -1] - low
        if height > 0:
            vol += height * _hv(p[: i + 1, :-1], ref[:-1])
    return float(vol)


def normalise(points: np.ndarray, low: np.ndarray | None = None, high: np.ndarray | None = None) -> np.ndarray:
    """Per-objective min-max scaling to [0, 1] (bounds default to the points' own min and max; a constant objective
    maps to 0)."""
    p = np.asarray(points, dtype=float)
    low = p.min(0) if low is None else np.asarray(low, dtype=float)
    high = p.max(0) if high is None else np.asarray(high, dtype=float)
    span = np.where(high > low, high - low, 1.0)
    return np.where(high > low, (p - low) / span, 0.0)


def mip(lams: np.ndarray, points: np.ndarray, low: np.ndarray | None = None, high: np.ndarray | None = None) -> float:
    """Mean inner product (controllability): mean over the grid of ⟨λ_j, normalised objective vector_j⟩, the
    objectives min-max normalised by ``low``/``high`` (default: over the grid's own points)."""
    return float(np.mean(np.sum(np.asarray(lams, dtype=float) * normalise(points, low, high), axis=1)))


def monotonicity(lams: np.ndarray, points: np.ndarray) -> list[float]:
    """Per objective i: the Spearman rank correlation between λ_i and objective i across the grid (1 = the
    objective rises with its weight everywhere)."""
    lams, points = np.asarray(lams, dtype=float), np.asarray(points, dtype=float)

    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # ties share their mean rank
            r[x == v] = r[x == v].mean()
        return r

    out = []
    for i in range(points.shape[1]):
        a, b = ranks(lams[:, i]), ranks(points[:, i])
        sa, sb = a.std(), b.std()
        out.append(float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb)) if sa > 0 and sb > 0 else 0.0)
    return out
