"""The learned parts of the miniature: J1 (per-item verifier), the pair-conditional rubric generator, the holistic
pairwise judge and the Bradley-Terry scalar RM (its loss is credo.rewards.bt.bt_loss). All are small MLPs over the
world's bag-of-token features; each is trained with Adam on a fixed, pre-set budget."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from world import FEAT, GENERIC, Pair, R, features, instruction, satisfied

from credo.rewards.bt import bt_loss


def mlp(n_in: int, n_out: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def fit(model: nn.Module, loss_fn, n: int, steps: int, batch: int, seed: int, lr: float = 1e-3) -> float:
    """Adam on random minibatches of indices 0..n-1; ``loss_fn(idx) -> loss``. Returns the last loss."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss = torch.tensor(0.0)
    for _ in range(steps):
        idx = torch.randint(0, n, (batch,), generator=g)
        loss = loss_fn(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


# ---- J1: per-item verifier ------------------------------------------------------------------------------------

def generic_label(rng: np.random.Generator, tokens: list[int]) -> float:
    """The length-correlated annotator of generic items: pass with probability sigmoid((length - 16) / 3)."""
    return float(rng.random() < 1 / (1 + np.exp(-(len(tokens) - 16) / 3)))


def verifier_data(pairs: list[Pair], n: int, seed: int, label_noise: float = 0.1):
    """``n`` (rule, response) -> label examples: exact truth flipped with ``label_noise`` for instruction rules,
    the length-correlated annotator for generic items."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, R + FEAT), dtype=np.float32)
    y = np.zeros(n, dtype=np.float32)
    for i in range(n):
        p = pairs[int(rng.integers(len(pairs)))]
        toks = p.a if rng.random() < 0.5 else p.b
        rule = int(rng.integers(R))
        x[i, rule] = 1.0
        x[i, R:] = features(toks)
        if rule in GENERIC:
            y[i] = generic_label(rng, toks)
        else:
            y[i] = float(satisfied(rule, toks) != (rng.random() < label_noise))
    return torch.from_numpy(x), torch.from_numpy(y)


class Verifier:
    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.net = mlp(R + FEAT, 1)

    def train(self, x: torch.Tensor, y: torch.Tensor, steps: int, seed: int) -> float:
        return fit(self.net, lambda i: nn.functional.binary_cross_entropy_with_logits(self.net(x[i]).squeeze(-1),
                                                                                       y[i]), len(y), steps, 128,
                   seed)

    @torch.no_grad()
    def prob(self, rules: list[int], responses: list[list[int]]) -> np.ndarray:
        """P(pass) of rule[i] on responses[i]."""
        if not rules:
            return np.zeros(0)
        x = np.zeros((len(rules), R + FEAT), dtype=np.float32)
        for i, (r, t) in enumerate(zip(rules, responses)):
            x[i, r] = 1.0
            x[i, R:] = features(t)
        return torch.sigmoid(self.net(torch.from_numpy(x)).squeeze(-1)).numpy()


def pair_input(pairs: list[Pair]) -> torch.Tensor:
    """[N, R + 3 FEAT]: instruction, features of A, of B, and |A - B|."""
    rows = []
    for p in pairs:
        fa, fb = features(p.a), features(p.b)
        rows.append(np.concatenate([instruction(p), fa, fb, np.abs(fa - fb)]))
    return torch.from_numpy(np.stack(rows))


# ---- rubric generator -------------------------------------------------------------------------------------------

class Generator:
    """Pair-conditional multi-label classifier: (instruction, A, B) -> which of the R items enter the rubric."""

    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.net = mlp(R + 3 * FEAT, R, hidden=512)

    def train(self, pairs: list[Pair], rubrics: list[set[int]], steps: int, seed: int) -> float:
        x = pair_input(pairs)
        y = torch.zeros(len(pairs), R)
        for i, rb in enumerate(rubrics):
            y[i, list(rb)] = 1.0
        return fit(self.net, lambda i: nn.functional.binary_cross_entropy_with_logits(self.net(x[i]), y[i]),
                   len(pairs), steps, 64, seed)

    @torch.no_grad()
    def rubrics(self, pairs: list[Pair]) -> list[set[int]]:
        keep = torch.sigmoid(self.net(pair_input(pairs))) > 0.5
        return [set(torch.nonzero(row).flatten().tolist()) for row in keep]


# ---- baselines ---------------------------------------------------------------------------------------------------

class Holistic:
    """A pairwise judge without a rubric: (instruction, A, B) -> P(A wins), trained on the biased pairs."""

    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.net = mlp(R + 3 * FEAT, 1)

    def train(self, pairs: list[Pair], steps: int, seed: int) -> float:
        x = pair_input(pairs)
        y = torch.tensor([float(p.gold == "A") for p in pairs])
        return fit(self.net, lambda i: nn.functional.binary_cross_entropy_with_logits(self.net(x[i]).squeeze(-1),
                                                                                       y[i]), len(pairs), steps, 64,
                   seed)

    @torch.no_grad()
    def winners(self, pairs: list[Pair]) -> list[str]:
        return ["A" if v > 0 else "B" for v in self.net(pair_input(pairs)).squeeze(-1).tolist()]


class BT:
    """A scalar reward r(instruction, response) trained with the Bradley-Terry loss on the biased pairs."""

    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.net = mlp(R + FEAT, 1)

    def inputs(self, pairs: list[Pair], slot: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.concatenate([instruction(p), features(p.a if slot == "A" else p.b)])
                                          for p in pairs]))

    def train(self, pairs: list[Pair], steps: int, seed: int) -> float:
        xa, xb = self.inputs(pairs, "A"), self.inputs(pairs, "B")
        a_wins = torch.tensor([p.gold == "A" for p in pairs])
        xc, xr = torch.where(a_wins[:, None], xa, xb), torch.where(a_wins[:, None], xb, xa)
        return fit(self.net, lambda i: bt_loss(self.net(xc[i]).squeeze(-1), self.net(xr[i]).squeeze(-1)),
                   len(pairs), steps, 64, seed)

    @torch.no_grad()
    def winners(self, pairs: list[Pair]) -> list[str]:
        ra, rb = self.net(self.inputs(pairs, "A")).squeeze(-1), self.net(self.inputs(pairs, "B")).squeeze(-1)
        return ["A" if a >= b else "B" for a, b in zip(ra.tolist(), rb.tolist())]
