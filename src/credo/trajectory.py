"""The one record every stage of the RL step passes along."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Trajectory:
    """One sampled response of one agent to one prompt (batch-1 record).

    Token fields are 1-D tensors over the *response*: ``response_ids`` [T], ``logprobs`` [T] (log-probs of the sampled
    tokens under the sampling distribution, i.e. logits / temperature), ``loss_mask`` [T] (1 = trained on),
    ``versions`` [T] (policy version that produced each token). ``prompt_ids`` [P] is the prompt without padding.
    Text is kept as well: agents with different tokenizers exchange text, never token ids.
    """

    prompt_ids: torch.Tensor
    response_ids: torch.Tensor
    logprobs: torch.Tensor
    loss_mask: torch.Tensor
    versions: torch.Tensor
    prompt_text: str = ""
    response_text: str = ""
    agent: str = "policy"
    role: str = "policy"
    group_id: int = 0
    episode_id: int = 0
    finish_reason: str = "length"  # "stop" (EOS or stop string) | "length" (hit max_new_tokens)
    rewards: dict[str, float] = field(default_factory=dict)  # e.g. {"score": raw verifier, "overlong": penalty}
    reward: float = 0.0  # the scalar the credit stage consumes
    advantage: float | torch.Tensor = 0.0  # scalar, or per-token [T]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tokens(self) -> int:
        return int(self.response_ids.numel())

    @property
    def score(self) -> float:
        """The raw verifier score in [0, 1] (what dynamic sampling and accuracy are measured on)."""
        return float(self.rewards.get("score", self.reward))
