"""Credit assignment: group-relative advantage estimators and their (robust) baselines."""

from credo.credit.advantages import (
                                    ADVANTAGES,
                                    BASELINES,
                                    FALLBACKS,
                                    compute_advantages,
                                    dr_grpo,
                                    grpo,
                                    mean_baseline,
                                    rloo,
)
from credo.credit.robust_mean import robust_mean  # registers the median, mom, are and are_clean baselines

__all__ = ["ADVANTAGES", "BASELINES", "FALLBACKS", "compute_advantages", "dr_grpo", "grpo", "mean_baseline", "rloo",
           "robust_mean"]
