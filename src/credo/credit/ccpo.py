"""CCPO counterfactual credit (arXiv 2603.21563): Think→Reason dyad and majority voting.

Agent k is paid for what the team gained because of it: ``c_k = R_joint - R_without_k``. In the dyad the
counterfactual is the Solver answering alone (extra rollouts, paired by index); in voting it is a re-tally of the
votes already cast without agent k (no extra decoding). Raw credits are shaped with run-long EMA statistics
(:class:`HistoryNormalizer`) before the per-prompt group normalisation the trainer applies afterwards.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import torch

DYAD_MODES = ("v1", "shapley_half", "v2", "shared")
VOTE_MODES = ("counterfactual", "joint_plus", "shared", "individual")


class HistoryNormalizer:
    """EMA mean and variance per named stream, used as constants to z-score new batches.

    The first batch of a stream initialises ``mu`` and ``m2`` from its own mean and (population) variance; later
    batches update ``mu <- d*mu + (1-d)*mean``, ``m2 <- d*m2 + (1-d)*var``. ``sigma = sqrt(m2)``, or 1 when
    ``m2 <= 1e-6``. A stream is *ready* once it has seen ``min_samples`` values; callers normalise with the statistics
    from before the current batch, then call :meth:`update` with the raw values.
    """

    def __init__(self, decay: float = 0.99, min_samples: int = 10):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.min_samples = decay, min_samples
        self.streams: dict[str, dict[str, float]] = {}

    def ready(self, name: str) -> bool:
        s = self.streams.get(name)
        return s is not None and s["count"] >= self.min_samples

    def stats(self, name: str) -> tuple[float, float]:
        """(mu, sigma) of a stream; (0, 1) before its first batch."""
        s = self.streams.get(name)
        if s is None:
            return 0.0, 1.0
        return s["mu"], math.sqrt(s["m2"]) if s["m2"] > 1e-6 else 1.0

    def update(self, name: str, values: torch.Tensor) -> None:
        v = values.double().flatten()
        if v.numel() == 0:
            return
        mean, var = float(v.mean()), float(v.var(unbiased=False))
        s = self.streams.get(name)
        if s is None:
            self.streams[name] = {"mu": mean, "m2": var, "count": float(v.numel())}
            return
        d = self.decay
        s["mu"] = d * s["mu"] + (1 - d) * mean
        s["m2"] = d * s["m2"] + (1 - d) * var
        s["count"] += v.numel()

    def state_dict(self) -> dict:
        return {"decay": self.decay, "min_samples": self.min_samples,
                "streams": {k: dict(v) for k, v in self.streams.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.min_samples = state["decay"], state["min_samples"]
        self.streams = {k: dict(v) for k, v in state["streams"].items()}


def pair_solo(group_ids: list[int], solo: dict[int, list[float]]) -> torch.Tensor:
    """Solo score paired with each joint sample: the k-th joint sample of a prompt takes that prompt's k-th solo
    sample; the prompt's mean solo score when it has fewer solo samples than joint ones. -> [N] float64."""
    seen: Counter[int] = Counter()
    out = []
    for g in group_ids:
        k, s = seen[g], solo[g]
        out.append(s[k] if k < len(s) else sum(s) / len(s))
        seen[g] += 1
    return torch.tensor(out, dtype=torch.float64)


def dyad_rewards(joint: torch.Tensor, solo: torch.Tensor, group_ids: torch.Tensor, hist: HistoryNormalizer,
                 mode: str = "v1", alpha: float = 1.0, eta: float = 1.0, lam: float = 0.2,
                 eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Thinker and Solver rewards for N joint samples.

    joint, solo: [N] verifier scores in [0, 1] (solo already paired); group_ids: [N] prompt ids.
    - ``v1``: Δ = joint - solo. Once the history is ready: Thinker ``tanh(alpha·(Δ-μ_Δ)/(σ_Δ+eps))``; Solver
      ``g·z(joint) + (1-g)·z(solo)`` with ``g = sigmoid(eta·μ_Δ/(σ_Δ+eps))``, all with the statistics from before this
      batch; before that, raw ``Δ`` and ``joint``. The history is then updated with this batch's raw Δ, joint, solo.
    - ``shapley_half``: ``0.5·Δ`` and ``0.5·joint``.
    - ``v2``: Thinker ``joint + lam·b`` with the event bonus ``b = 1[joint right, prompt's mean solo < 1/2] -
      1[joint wrong, mean solo > 1/2]`` (the ±1 rule of the v2 code on 0/1 scores); Solver ``joint``.
    - ``shared``: both get ``joint`` (the free-riding baseline).
    Returns (r_thinker [N], r_solver [N], metrics).
    """
    if mode not in DYAD_MODES:
        raise ValueError(f"multi.credit for think_reason must be one of {DYAD_MODES}, got {mode!r}")
    joint, solo = joint.double(), solo.double()
    delta = joint - solo
    gate = float("nan")
    if mode == "v1":
        if hist.ready("delta"):
            mu_d, sd_d = hist.stats("delta")
            mu_j, sd_j = hist.stats("joint")
            mu_s, sd_s = hist.stats("solo")
            r1 = torch.tanh(alpha * (delta - mu_d) / (sd_d + eps))
            gate = 1.0 / (1.0 + math.exp(-eta * mu_d / (sd_d + eps)))
            r2 = gate * (joint - mu_j) / (sd_j + eps) + (1 - gate) * (solo - mu_s) / (sd_s + eps)
        else:
            r1, r2 = delta.clone(), joint.clone()
        hist.update("delta", delta)
        hist.update("joint", joint)
        hist.update("solo", solo)
    elif mode == "shapley_half":
        r1, r2 = 0.5 * delta, 0.5 * joint
    elif mode == "v2":
        _, inv = torch.unique(group_ids, return_inverse=True)
        bbar = torch.zeros(int(inv.max()) + 1, dtype=torch.float64).index_add_(0, inv, solo)
        bbar = bbar / torch.bincount(inv).double()
        right = joint >= 0.5
        bonus = (right & (bbar[inv] < 0.5)).double() - (~right & (bbar[inv] > 0.5)).double()
        r1, r2 = joint + lam * bonus, joint.clone()
    else:
        r1, r2 = joint.clone(), joint.clone()
    mu_d, sd_d = hist.stats("delta")
    metrics = dyad_metrics(joint, solo)
    if mode == "v1":
        metrics |= {"ccpo/ema_delta_mean": mu_d, "ccpo/ema_delta_std": sd_d}
        if not math.isnan(gate):
            metrics["ccpo/gate"] = gate
    return r1, r2, metrics


def dyad_metrics(joint: torch.Tensor, solo: torch.Tensor) -> dict[str, float]:
    """Help / hurt / same rates, joint and solo accuracy and the mean Δ of [N] paired verifier scores."""
    joint, solo = joint.double(), solo.double()
    delta = joint - solo
    return {"ccpo/help_rate": float((delta > 0).double().mean()),
            "ccpo/hurt_rate": float((delta < 0).double().mean()),
            "ccpo/same_rate": float((delta == 0).double().mean()),
            "ccpo/joint_accuracy": float((joint >= 1).double().mean()),
            "ccpo/solo_accuracy": float((solo >= 1).double().mean()),
            "ccpo/delta_mean": float(delta.mean())}


def majority(votes: list[str], tie_rule: str = "random", rng: random.Random | None = None) -> str | None:
    """The most frequent non-empty vote. Ties: ``random`` picks one of the tied answers with ``rng`` (seeded by the
    caller), ``none`` returns None (no team answer). No votes -> None."""
    counts = Counter(v for v in votes if v)
    if not counts:
        return None
    top = max(counts.values())
    tied = sorted(v for v, c in counts.items() if c == top)
    if len(tied) == 1:
        return tied[0]
    if tie_rule == "none":
        return None
    if tie_rule != "random":
        raise ValueError(f"multi.tie_rule must be random or none, got {tie_rule!r}")
    return (rng or random.Random(0)).choice(tied)


def vote_credit(votes: list[str], correct: dict[str, float], tie_rule: str = "random",
                seed: int = 0) -> tuple[float, list[float]]:
    """Team score and each voter's counterfactual credit for one vote round.

    votes: the N extracted answers ('' = abstain); correct: answer -> verifier score. The team score is the
    score of the majority answer (0 when there is none); ``c_k = R(maj) - R(maj without voter k)``, a re-tally
    without new decoding. Random tie-breaks use ``random.Random(seed)`` per tally, so results are reproducible.
    -> (R_joint, [c_1..c_N]).
    """
    def score(vs: list[str], salt: int) -> float:
        m = majority(vs, tie_rule, random.Random(seed * 1009 + salt))
        return correct.get(m, 0.0) if m is not None else 0.0

    joint = score(votes, 0)
    return joint, [joint - score(votes[:k] + votes[k + 1:], k + 1) for k in range(len(votes))]


def shape_vote_rewards(joint: torch.Tensor, credit: torch.Tensor, own: torch.Tensor, hist: HistoryNormalizer,
                       name: str, mode: str, alpha: float = 1.0, lam: float = 0.2,
                       eps: float = 1e-6) -> torch.Tensor:
    """One voter's rewards [N] from team scores ``joint`` [N], its credits ``credit`` [N] and its own answer's
    score ``own`` [N]. ``counterfactual``: tanh(alpha·z(c)) with the voter's own EMA stream (raw c during warm-up),
    ``joint_plus``: joint + lam·c, ``shared``: joint, ``individual``: own score (independent training)."""
    if mode not in VOTE_MODES:
        raise ValueError(f"multi.credit for voting must be one of {VOTE_MODES}, got {mode!r}")
    if mode == "counterfactual":
        if hist.ready(name):
            mu, sd = hist.stats(name)
            out = torch.tanh(alpha * (credit.double() - mu) / (sd + eps))
        else:
            out = credit.double().clone()
        hist.update(name, credit)
        return out
    if mode == "joint_plus":
        return joint.double() + lam * credit.double()
    return (joint if mode == "shared" else own).double().clone()
