"""DAPO batch shaping: dynamic sampling (drop constant-score groups) and overlong filtering / soft penalty."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from credo.config import AlgoConfig
from credo.trajectory import Trajectory

SCORE_TOL = 1e-6


def group_scores(trajs: Sequence[Trajectory]) -> dict[int, list[float]]:
    """Group id -> raw verifier scores (``t.score``), groups in first-appearance order."""
    out: dict[int, list[float]] = {}
    for t in trajs:
        out.setdefault(t.group_id, []).append(t.score)
    return out


def filter_groups(trajs: Sequence[Trajectory], tol: float = SCORE_TOL) -> tuple[list[Trajectory], list[int]]:
    """DAPO dynamic sampling: keep groups whose RAW scores differ by more than ``tol``.

    Decided on ``t.score`` (``rewards["score"]``), never on the shaped ``t.reward``: a group that is all-correct or
    all-wrong is dropped even when e.g. an overlong penalty makes its rewards differ. Returns (kept trajectories in
    input order, dropped group ids in first-appearance order).
    """
    scores = group_scores(trajs)
    dropped = [g for g, s in scores.items() if max(s) - min(s) <= tol]
    drop = set(dropped)
    return [t for t in trajs if t.group_id not in drop], dropped


def overlong_penalty(length: int, max_new_tokens: int, buffer: int) -> float:
    """DAPO soft overlong punishment for a response of ``length`` tokens.

    0 if length <= L_max - L_cache; ((L_max - L_cache) - length) / L_cache inside the buffer (reaching -1 at L_max);
    -1 beyond L_max. ``L_max = max_new_tokens``, ``L_cache = buffer``.
    """
    expected = max_new_tokens - buffer
    if length <= expected:
        return 0.0
    if length <= max_new_tokens:
        return (expected - length) / buffer
    return -1.0


def apply_overlong(trajs: Sequence[Trajectory], cfg: AlgoConfig, max_new_tokens: int) -> dict[str, float]:
    """In place: with ``cfg.overlong_penalty`` set ``rewards["overlong"]`` and add it to ``t.reward`` (idempotent: a
    previous penalty is replaced, not added twice); with ``cfg.overlong_filter`` zero ``t.loss_mask`` of truncated
    (``finish_reason == "length"``) responses. Metrics: truncated fraction and mean applied penalty."""
    penalties = []
    for t in trajs:
        if cfg.overlong_penalty:
            p = overlong_penalty(t.num_tokens, max_new_tokens, cfg.overlong_buffer)
            t.reward = float(t.reward) - float(t.rewards.get("overlong", 0.0)) + p
            t.rewards["overlong"] = p
            penalties.append(p)
        if cfg.overlong_filter and t.finish_reason == "length":
            t.loss_mask = torch.zeros_like(t.loss_mask)
    n = max(len(trajs), 1)
    return {
        "reward/overlong_frac": sum(t.finish_reason == "length" for t in trajs) / n,
        "reward/overlong_penalty_mean": sum(penalties) / n if penalties else 0.0,
    }
