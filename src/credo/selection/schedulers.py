"""Rollout schedulers: how candidate rollouts are ranked for the update (registry ``SCHEDULERS``).

A scheduler scores candidates; :class:`credo.selection.selector.RolloutSelector` keeps the top p% per group (intra)
or the top K over the buffer (global). ``cbs`` is the neural contextual bandit; ``random`` (random p%) and
``max_abs_adv`` (largest |Â| first) are the paper's controls. The no-entropy-term control is ``cbs`` with
``cbs.w_e=0``.
"""

from __future__ import annotations

import torch

from credo.registry import Registry
from credo.selection.bandit import NeuralBandit
from credo.selection.buffer import Stored
from credo.selection.features import FEATURES

SCHEDULERS = Registry(
    "scheduler",
    "cls(cfg: CBSConfig, seed: int) -> object with learns (bool), score(features[N,10], entries, gen) -> "
    "(scores[N], predicted gain[N] or None, exploration term[N] or None), chosen(features[K,10]), "
    "observe(features[K,10], gain, gen) -> metrics, state_dict(), load_state_dict(state)",
)


class Scheduler:
    """A scheduler that does not learn: ``observe``/``chosen`` are no-ops and it has no state."""

    learns = False

    def __init__(self, cfg, seed: int):
        self.cfg = cfg

    def score(self, x: torch.Tensor, entries: list[Stored], gen: torch.Generator):
        raise NotImplementedError

    def chosen(self, x: torch.Tensor) -> None:
        pass

    def observe(self, x: torch.Tensor, gain: float, gen: torch.Generator) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, s: dict) -> None:
        pass


@SCHEDULERS.register("random")
class RandomScheduler(Scheduler):
    """Uniformly random scores: random p% per group, or a random K from the buffer."""

    def score(self, x, entries, gen):
        return torch.rand(x.shape[0], generator=gen, dtype=torch.float64, device="cpu"), None, None


@SCHEDULERS.register("max_abs_adv")
class MaxAbsAdvantage(Scheduler):
    """Largest |Â| first (the group advantage stored at generation time); ties broken at random."""

    def score(self, x, entries, gen):
        adv = torch.tensor([float(e.traj.advantage.float().abs().mean()) if torch.is_tensor(e.traj.advantage)
                            else abs(float(e.traj.advantage)) for e in entries], dtype=torch.float64, device="cpu")
        return adv + 1e-9 * torch.rand(len(entries), generator=gen, dtype=torch.float64, device="cpu"), None, None


@SCHEDULERS.register("cbs")
class CBSScheduler(Scheduler):
    """The neural contextual bandit (``credo.selection.bandit``) on the normalised rollout features."""

    learns = True

    def __init__(self, cfg, seed: int):
        super().__init__(cfg, seed)
        self.bandit = NeuralBandit(len(FEATURES), cfg.hidden, cfg.explore, cfg.lr, cfg.window, cfg.fit_steps,
                                   cfg.fit_batch, cfg.ucb_nu, cfg.ucb_lambda, seed)

    def score(self, x, entries, gen):
        s, bonus = self.bandit.score(x)
        return s, self.bandit.predict(x), bonus

    def chosen(self, x):
        self.bandit.chosen(x)

    def observe(self, x, gain, gen):
        return self.bandit.observe(x, gain, gen)

    def state_dict(self):
        return self.bandit.state_dict()

    def load_state_dict(self, s):
        self.bandit.load_state_dict(s)
