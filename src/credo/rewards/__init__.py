"""Rewards: reward functions (TRL convention, weighted, checked, logged one by one) and reward shaping after
verification (heavy-tailed noise injector; the raw verifier score stays in ``rewards["score"]``)."""

from credo.rewards.functions import (
    ON_INVALID,
    REWARD_FUNCTIONS,
    RewardEntry,
    RewardSet,
    VerifierReward,
    build_reward_set,
)
from credo.tasks.base import RewardError

__all__ = ["ON_INVALID", "REWARD_FUNCTIONS", "RewardEntry", "RewardError", "RewardSet", "VerifierReward",
           "build_reward_set"]
