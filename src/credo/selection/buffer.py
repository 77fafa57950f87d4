"""The rollout buffer of CBS global scheduling: a FIFO of the last L generation rounds.

Each stored rollout keeps its :class:`~credo.trajectory.Trajectory` (prompt and response tokens, sampling log-probs,
loss mask, reward, and the advantage computed on its *full* group at generation time), the step that generated it,
how often it was trained on, and the clip ratio measured the last time it was trained on. Log-probs are never reused
from the buffer: before a stored rollout is scored or trained on again, its log-probs are recomputed under the
current policy (``credo.selection.features.policy_stats`` and ``Learner.attach_logprobs``), so a stale sample goes
through the same importance-ratio clipping as any other off-policy sample.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from credo.trajectory import Trajectory

# Per-update fields the learner attaches to a trajectory; recomputed before every reuse, never stored.
TRANSIENT_INFO = ("old_logprobs", "ref_logprobs")


@dataclass
class Stored:
    """One buffered rollout. ``step``: the RL step whose rollout phase generated it; ``usage``: times selected for an
    update; ``clip_ratio``: fraction of its tokens whose ratio π_new/π_old left [1 − ε_low, 1 + ε_high] over the last
    update it was selected for (0 if never trained on); ``group_acc``: mean raw score of its full group;
    ``trained_logprobs`` [T]: its log-probs under the policy it was last trained from, kept until the next round
    measures the clip ratio."""

    traj: Trajectory
    step: int
    group_acc: float
    usage: int = 0
    clip_ratio: float = 0.0
    trained_logprobs: torch.Tensor | None = None

    def age(self, step: int) -> int:
        return step - self.step


def plain(value) -> bool:
    """Whether ``value`` is made of JSON-like scalars, lists and string-keyed dicts only (safe to checkpoint)."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    return isinstance(value, torch.Tensor)


def traj_state(t: Trajectory) -> dict:
    """A trajectory as checkpointable state (``credo.train.state``); ``info`` keeps its plain entries only."""
    out = {f.name: getattr(t, f.name) for f in dataclasses.fields(t) if f.name != "info"}
    out["info"] = {k: v for k, v in t.info.items() if k not in TRANSIENT_INFO and plain(v)}
    return out


def traj_from_state(s: dict) -> Trajectory:
    return Trajectory(**s)


class RolloutBuffer:
    """FIFO of the rollouts of the last ``rounds`` RL steps (``rounds = 1``: only the current round)."""

    def __init__(self, rounds: int):
        if rounds < 1:
            raise ValueError(f"cbs.buffer_rounds must be >= 1, got {rounds}")
        self.rounds = rounds
        self.entries: list[Stored] = []

    def __len__(self) -> int:
        return len(self.entries)

    def push(self, step: int, trajs: list[Trajectory]) -> list[Stored]:
        """Add the rollouts of ``step`` (complete groups: the group accuracy is taken over them) and drop rounds
        older than the last ``rounds``; -> the new entries."""
        acc: dict[int, list[float]] = {}
        for t in trajs:
            acc.setdefault(t.group_id, []).append(t.score)
        new = [Stored(t, step, sum(acc[t.group_id]) / len(acc[t.group_id])) for t in trajs]
        self.entries = [e for e in self.entries if step - e.step < self.rounds] + new
        return new

    def state_dict(self) -> dict:
        return {"rounds": self.rounds, "entries": [
            {"traj": traj_state(e.traj), "step": e.step, "group_acc": e.group_acc, "usage": e.usage,
             "clip_ratio": e.clip_ratio, "trained_logprobs": e.trained_logprobs} for e in self.entries]}

    def load_state_dict(self, s: dict) -> None:
        self.rounds = s["rounds"]
        self.entries = [Stored(traj_from_state(e["traj"]), e["step"], e["group_acc"], e["usage"], e["clip_ratio"],
                               e["trained_logprobs"]) for e in s["entries"]]
