"""DACR reward routing (answer → critique → rewrite; arXiv 2603.21574).

The paper's formulas are not public; this is the reconstruction documented in the method notes: the answer turn is
paid R(y), the rewrite turn R(y'), and the critique its marginal contribution to the partner, the cross-improvement
R(y') - R(y) — or, with a critique-free rewrite y'' as counterfactual, R(y') - R(y''). ``shared`` pays every turn
(answer, critique and rewrite) the final R(y') (the baseline in which the critic's own effect is not isolated).
"""

from __future__ import annotations

import torch

DACR_MODES = ("cross_improvement", "shared")


def dacr_rewards(answer: torch.Tensor, rewrite: torch.Tensor, rewrite_solo: torch.Tensor | None = None,
                 mode: str = "cross_improvement") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, float]]:
    """answer, rewrite [N]: scores of y and y' of the same episodes (noisy ones, when reward noise is injected);
    rewrite_solo [N] or None: scores of the critique-free rewrite. ``shared`` pays all three turns R(y').
    -> (r_answer, r_critique, r_rewrite) each [N], metrics of these scores."""
    if mode not in DACR_MODES:
        raise ValueError(f"multi.credit for answer_critique_rewrite must be one of {DACR_MODES}, got {mode!r}")
    answer, rewrite = answer.double(), rewrite.double()
    base = answer if rewrite_solo is None else rewrite_solo.double()
    if mode == "shared":
        return rewrite.clone(), rewrite.clone(), rewrite.clone(), dacr_metrics(answer, rewrite, rewrite_solo)
    return answer.clone(), rewrite - base, rewrite.clone(), dacr_metrics(answer, rewrite, rewrite_solo)


def dacr_metrics(answer: torch.Tensor, rewrite: torch.Tensor,
                 rewrite_solo: torch.Tensor | None = None) -> dict[str, float]:
    """Accuracy before/after the rewrite, improved/degraded rates and the mean critique gain ([N] scores each)."""
    answer, rewrite = answer.double(), rewrite.double()
    out = {"dacr/answer_accuracy": float((answer >= 1).double().mean()),
           "dacr/rewrite_accuracy": float((rewrite >= 1).double().mean()),
           "dacr/improved_rate": float((rewrite > answer).double().mean()),
           "dacr/degraded_rate": float((rewrite < answer).double().mean())}
    if rewrite_solo is not None:
        out["dacr/critique_gain_mean"] = float((rewrite - rewrite_solo.double()).mean())
    return out
