"""Policy losses, loss aggregation and KL penalties."""

from credo.losses.aggregate import AGG_MODES, agg_loss, global_counts
from credo.losses.kl import kl_k3
from credo.losses.policy import POLICY_LOSSES, gspo, gspo_token, masked_mean, ppo_clip

__all__ = [
    "AGG_MODES", "POLICY_LOSSES", "agg_loss", "global_counts", "gspo", "gspo_token", "kl_k3", "masked_mean", "ppo_clip",
]
