"""Learned reward models for RLHF: a Bradley-Terry reward model and R2M (arXiv 2601.22664), which cross-attends to
the policy's last-layer hidden states and is updated after every policy step (GREBT). See docs/r2m.md. Preference
pairs use the one pairwise format of :mod:`credo.rewards.pairs`."""

from credo.rm.bt import load_reward_model, pair_accuracy, save_reward_model, train_bradley_terry
from credo.rm.fusion import CrossAttention, mix, omega
from credo.rm.losses import best_worst, bt_loss, gre, grebt_loss
from credo.rm.model import RewardModel, last_layer_states, pad_states
from credo.rm.pairs import task_pairs
from credo.rm.reward import FUSIONS, UPDATES, RMReward, build_rm_reward

__all__ = ["FUSIONS", "UPDATES", "CrossAttention", "RMReward", "RewardModel",
           "best_worst", "bt_loss", "build_rm_reward", "gre", "grebt_loss", "last_layer_states", "load_reward_model",
           "mix", "omega", "pad_states", "pair_accuracy", "save_reward_model", "task_pairs",
           "train_bradley_terry"]
