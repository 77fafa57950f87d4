"""The CBS neural contextual bandit: a gain predictor f1 on rollout features plus an exploration term.

f1 is an MLP 10 → 64 → 64 → 1 (ReLU) [2nd: "a lightweight MLP on a 10-d feature vector"; widths reconstructed]. It
is fitted online by MSE, a few Adam steps after every new label, on a sliding window of (features, gain) pairs.
Exploration is reconstructed (the paper's text was not readable; docs/cbs.md):

* ``ee_net`` (EE-Net, Ban et al. 2023, the senior author's method): a second MLP f2 takes the unit-normalised
  gradient g(φ) = ∇_w f1(φ) and regresses the residual y − f1(φ); score = f1 + f2.
* ``neural_ucb`` (NeuralUCB with a diagonal design matrix): score = f1 + ν·sqrt(Σ_j g_j² / Z_j) with
  g = ∇_w f1 / sqrt(width) and Z = λ + Σ g² over the rollouts selected so far.
* ``greedy``: score = f1 (an ablation only).

Labels are standardised by the mean and std of the window before fitting, so f1, f2 and the UCB bonus are in units of
the label's spread; :meth:`NeuralBandit.predict` returns gains in the label's own units. Everything lives on the CPU
(the features are host-side numbers); all randomness comes from the caller's generator.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

EXPLORATION = ("ee_net", "neural_ucb", "greedy")


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class NeuralBandit:
    """f1 (+ f2 for EE-Net, + a diagonal Z for NeuralUCB) over feature vectors [N, d_in]."""

    def __init__(self, d_in: int, hidden: int, explore: str, lr: float, window: int, fit_steps: int,
                 fit_batch: int, ucb_nu: float, ucb_lambda: float, seed: int):
        if explore not in EXPLORATION:
            raise ValueError(f"cbs.explore must be one of {EXPLORATION}, got {explore!r}")
        self.explore, self.window, self.fit_steps, self.fit_batch = explore, window, fit_steps, fit_batch
        self.hidden, self.nu = hidden, ucb_nu
        # a deterministic init on the CPU that leaves the global RNG stream alone
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            torch.manual_seed(seed)
            self.f1 = mlp([d_in, hidden, hidden, 1])
            self.dim = sum(p.numel() for p in self.f1.parameters())
            self.f2 = mlp([self.dim, hidden, 1]) if explore == "ee_net" else None
        self.opt1 = torch.optim.Adam(self.f1.parameters(), lr=lr)
        self.opt2 = torch.optim.Adam(self.f2.parameters(), lr=lr) if self.f2 is not None else None
        self.z = torch.full((self.dim,), float(ucb_lambda), device="cpu") if explore == "neural_ucb" else None
        self.xs, self.ys = torch.zeros(0, d_in, device="cpu"), torch.zeros(0, device="cpu")
        self.y_mean, self.y_std = 0.0, 1.0

    def gradients(self, x: torch.Tensor) -> torch.Tensor:
        """Per-row gradient of f1's output w.r.t. all its weights: [N, d_in] -> [N, dim]."""
        params = {k: v.detach() for k, v in self.f1.named_parameters()}

        def f(p, row):
            return functional_call(self.f1, p, (row.unsqueeze(0),)).squeeze()

        g = vmap(grad(f), in_dims=(None, 0))(params, x.float())
        return torch.cat([g[k].reshape(x.shape[0], -1) for k in params], dim=1)

    def ee_input(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gradients(x)
        return g / g.norm(dim=1, keepdim=True).clamp(min=1e-12)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """f1's predicted gain [N] in the label's units."""
        return self.f1(x.float()).squeeze(-1).double() * self.y_std + self.y_mean

    def score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (score [N] in standardised units: f1 + exploration term, the exploration term [N])."""
        with torch.no_grad():
            f1 = self.f1(x.float()).squeeze(-1)
        if self.explore == "greedy" or x.shape[0] == 0:
            bonus = torch.zeros_like(f1)
        elif self.explore == "ee_net":
            with torch.no_grad():
                bonus = self.f2(self.ee_input(x)).squeeze(-1)
        else:
            g = self.gradients(x) / self.hidden ** 0.5
            bonus = self.nu * (g * g / self.z).sum(1).sqrt()
        return (f1 + bonus).double(), bonus.double()

    def chosen(self, x: torch.Tensor) -> None:
        """NeuralUCB: add the selected rows' squared gradients to the diagonal design matrix Z."""
        if self.z is not None and x.shape[0]:
            g = self.gradients(x) / self.hidden ** 0.5
            self.z += (g * g).sum(0)

    def observe(self, x: torch.Tensor, gain: float, gen: torch.Generator) -> dict[str, float]:
        """Append (x_i, gain) for every row of ``x`` to the window (oldest pairs fall out), then fit. -> the
        window MSE of f1 after fitting and f2's last mini-batch MSE on the residual, in standardised units."""
        if x.shape[0] == 0:
            return {}
        self.xs = torch.cat([self.xs, x.float()])[-self.window:]
        self.ys = torch.cat([self.ys, torch.full((x.shape[0],), float(gain), device="cpu")])[-self.window:]
        n = self.ys.numel()
        self.y_mean = float(self.ys.mean())
        std = float(self.ys.std(unbiased=False)) if n > 1 else 0.0
        self.y_std = std if std > 1e-12 else 1.0
        y = (self.ys - self.y_mean) / self.y_std
        for _ in range(self.fit_steps):
            idx = torch.randperm(n, generator=gen, device="cpu")[: self.fit_batch]
            loss = ((self.f1(self.xs[idx]).squeeze(-1) - y[idx]) ** 2).mean()
            self.opt1.zero_grad()
            loss.backward()
            self.opt1.step()
        with torch.no_grad():
            resid = y - self.f1(self.xs).squeeze(-1)
        out = {"cbs/scorer_loss": float((resid ** 2).mean()), "cbs/window": float(n)}
        if self.f2 is not None:
            for _ in range(self.fit_steps):
                idx = torch.randperm(n, generator=gen, device="cpu")[: self.fit_batch]
                loss = ((self.f2(self.ee_input(self.xs[idx])).squeeze(-1) - resid[idx]) ** 2).mean()
                self.opt2.zero_grad()
                loss.backward()
                self.opt2.step()
                out["cbs/explore_loss"] = float(loss.detach())  # of the last fit step (a full pass is costly)
        return out

    def state_dict(self) -> dict:
        return {"f1": self.f1.state_dict(), "opt1": self.opt1.state_dict(),
                "f2": self.f2.state_dict() if self.f2 is not None else None,
                "opt2": self.opt2.state_dict() if self.opt2 is not None else None,
                "z": self.z, "xs": self.xs, "ys": self.ys, "y_mean": self.y_mean, "y_std": self.y_std}

    def load_state_dict(self, s: dict) -> None:
        self.f1.load_state_dict(s["f1"])
        self.opt1.load_state_dict(s["opt1"])
        if self.f2 is not None:
            self.f2.load_state_dict(s["f2"])
            self.opt2.load_state_dict(s["opt2"])
        self.z, self.xs, self.ys, self.y_mean, self.y_std = s["z"], s["xs"], s["ys"], s["y_mean"], s["y_std"]
