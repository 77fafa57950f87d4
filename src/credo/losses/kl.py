"""Per-token KL penalty estimators to a reference policy."""

from __future__ import annotations

import torch

KL_LOG_CLAMP = 20.0


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimate of KL(pi_theta || pi_ref) at the sampled tokens, [B, T] -> [B, T] (>= 0).

    ``exp(d) - d - 1`` with ``d = ref_logprobs - logprobs`` clamped to ±20 so exp cannot overflow.
    """
    d = (ref_logprobs - logprobs).clamp(-KL_LOG_CLAMP, KL_LOG_CLAMP)
    return torch.exp(d) - d - 1.0
