"""Heavy-tailed reward contamination for robustness experiments.

With probability ``p`` a trajectory's reward gets additive noise: Student-t with ``df`` degrees of freedom times
``scale``, or a Pareto outlier ``± scale · (1 + Pareto(shape = df))`` with a random sign. The raw verifier score is
left untouched (``rewards["score"]``), so accuracy and dynamic sampling still see the truth; the noise is stored in
``rewards["noise"]`` and added to ``reward``. Seeded, and its generator state goes into checkpoints. Workflows whose
credit is a function of several verifier scores (DACR, the CCPO dyad, voting) contaminate those scores before credit
instead (``Workflow.contaminate``).
"""

from __future__ import annotations

import numpy as np

from credo.trajectory import Trajectory

KINDS = ("student_t", "pareto")


class RewardNoise:
    def __init__(self, p: float, kind: str = "student_t", df: float = 1.5, scale: float = 1.0, seed: int = 0):
        if kind not in KINDS:
            raise ValueError(f"reward.noise_kind must be one of {KINDS}, got {kind!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"reward.noise_p must be in [0, 1], got {p}")
        self.p, self.kind, self.df, self.scale = p, kind, df, scale
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> np.ndarray:
        """[n] noise values, zero where the Bernoulli(p) draw says clean."""
        hit = self.rng.random(n) < self.p
        if self.kind == "student_t":
            xi = self.scale * self.rng.standard_t(self.df, n)
        else:
            xi = self.scale * (1.0 + self.rng.pareto(self.df, n)) * self.rng.choice([-1.0, 1.0], n)
        return np.where(hit, xi, 0.0)

    def __call__(self, trajs: list[Trajectory]) -> dict[str, float]:
        noise = self.sample(len(trajs))
        for t, xi in zip(trajs, noise.tolist()):
            t.rewards["noise"] = xi
            t.reward += xi
        return self.summary(noise)

    @staticmethod
    def summary(noise: np.ndarray) -> dict[str, float]:
        """Share of contaminated values and their mean |noise| (noise: the array ``sample`` returned)."""
        noise = np.asarray(noise, dtype=float).ravel()
        hit = noise != 0
        return {"reward/noise_frac": float(hit.mean()) if len(noise) else 0.0,
                "reward/noise_abs_mean": float(np.abs(noise[hit]).mean()) if hit.any() else 0.0}

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
