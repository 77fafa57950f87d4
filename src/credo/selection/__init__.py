"""Batch selection: DAPO dynamic sampling and overlong shaping; CBS rollout scheduling with a replay buffer."""

from credo.selection.buffer import RolloutBuffer, Stored
from credo.selection.dynamic import apply_overlong, filter_groups, group_scores, overlong_penalty
from credo.selection.features import FEATURES, normalise, policy_stats, raw_features
from credo.selection.schedulers import SCHEDULERS
from credo.selection.selector import MODES, RolloutSelector, arm_reward, build_selector, keep_count

__all__ = ["FEATURES", "MODES", "SCHEDULERS", "RolloutBuffer", "RolloutSelector", "Stored", "apply_overlong",
           "arm_reward", "build_selector", "filter_groups", "group_scores", "keep_count", "normalise",
           "overlong_penalty", "policy_stats", "raw_features"]
