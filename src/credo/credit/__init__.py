"""Credit assignment: group-relative advantage estimators and their baselines."""

from credo.credit.advantages import ADVANTAGES, BASELINES, compute_advantages, dr_grpo, grpo, mean_baseline, rloo

__all__ = ["ADVANTAGES", "BASELINES", "compute_advantages", "dr_grpo", "grpo", "mean_baseline", "rloo"]
