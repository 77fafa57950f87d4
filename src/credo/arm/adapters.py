"""Preference-conditioned low-rank adapters that wrap a model's linear layers in place.

* :class:`PBLoRALinear` (PARM): ΔW(λ) = s · B · blockdiag(W1, W2(λ)) · A with A ∈ R^{(r1+r2)×d_in},
  B ∈ R^{d_out×(r1+r2)} (zero-init), W1 ∈ R^{r1×r1} (preference-agnostic core), W2(λ) = reshape(Σ_i λ_i w_{2,i})
  ∈ R^{r2×r2}, s = alpha / r2.
* :class:`MoSLoRALinear` (UniARM's MoSLoRA, **reconstructed**: the paper gives no body text): shared features
  h = A x (A: r×d_in), FiLM modulation [γ; δ] = M m(λ) from the mixed preference vector m(λ) held by a
  :class:`Preference`, h' = (1 + γ) ⊙ h + δ, Δy = (alpha / r) · B h' (B: d_out×r, zero-init). M is one map shared
  by every wrapped layer (``modulation="shared"``) or one per layer.

The preference λ (shape [k], on the simplex) lives in one :class:`Preference` module registered on the model as
``arm_preference``; :func:`set_preference` writes it before a forward (one λ per batch).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Preference(nn.Module):
    """λ ∈ Δ^k and the conditioning vector m(λ) every wrapped layer reads.

    ``objective_vectors`` [k, d] (frozen o_i, e.g. mean token embeddings of the objective descriptions) gives
    m(λ) = normalize(Σ_i λ_i o_i) ∈ R^d (d = the model's hidden size); without them m(λ) = λ (the one-hot ablation).
    """

    def __init__(self, k: int, objective_vectors: torch.Tensor | None = None):
        super().__init__()
        self.k = k
        self.register_buffer("lam", torch.full((k,), 1.0 / k))
        if objective_vectors is not None:
            if objective_vectors.shape[0] != k:
                raise ValueError(f"objective_vectors has {objective_vectors.shape[0]} rows, expected k={k}")
            self.register_buffer("objectives", objective_vectors.detach().clone().float())
        else:
            self.objectives = None

    @property
    def dim(self) -> int:
        return self.k if self.objectives is None else self.objectives.shape[1]

    def set(self, lam: torch.Tensor | list[float]) -> None:
        lam = torch.as_tensor(lam, dtype=torch.float32, device=self.lam.device)
        if lam.shape != (self.k,):
            raise ValueError(f"a preference has {self.k} weights, got shape {tuple(lam.shape)}")
        self.lam.copy_(lam)

    def vector(self) -> torch.Tensor:
        """m(λ): [d]."""
        if self.objectives is None:
            return self.lam
        return F.normalize(self.lam @ self.objectives, dim=-1)


def _kaiming(t: torch.Tensor) -> torch.Tensor:
    nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    return t


class PBLoRALinear(nn.Module):
    """A frozen ``base`` linear layer plus PARM's preference-aware bilinear LoRA (see the module docstring)."""

    def __init__(self, base: nn.Linear, pref: Preference, r1: int, r2: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        self.base, self.r1, self.r2, self.scale = base, r1, r2, alpha / r2
        object.__setattr__(self, "pref", pref)  # shared, registered once on the model
        dev, d_in, d_out = base.weight.device, base.in_features, base.out_features
        self.lora_A = nn.Parameter(_kaiming(torch.empty(r1 + r2, d_in, device=dev)))
        self.lora_B = nn.Parameter(torch.zeros(d_out, r1 + r2, device=dev))
        self.lora_W1 = nn.Parameter(_kaiming(torch.empty(r1, r1, device=dev)))
        self.lora_W2 = nn.Parameter(_kaiming(torch.empty(pref.k, r2 * r2, device=dev)))
        self.drop = nn.Dropout(dropout)

    def w2(self) -> torch.Tensor:
        """W2(λ) = reshape(Σ_i λ_i w_{2,i}): [r2, r2]."""
        return (self.pref.lam.to(self.lora_W2.dtype) @ self.lora_W2).view(self.r2, self.r2)

    def delta_weight(self) -> torch.Tensor:
        """ΔW(λ) = s · B · blockdiag(W1, W2(λ)) · A: [d_out, d_in]."""
        return self.scale * self.lora_B @ torch.block_diag(self.lora_W1, self.w2()) @ self.lora_A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(x).to(self.lora_A.dtype) @ self.lora_A.T  # [..., r1 + r2]
        h = torch.cat([h[..., : self.r1] @ self.lora_W1.T, h[..., self.r1:] @ self.w2().T], dim=-1)
        return self.base(x) + (self.scale * h @ self.lora_B.T).to(x.dtype)


class FiLM(nn.Module):
    """[γ; δ] = M m: a bias-free linear map R^d → R^{2r}, zero-initialised (identity modulation at the start)."""

    def __init__(self, dim: int, r: int, device: torch.device | str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2 * r, dim, device=device))

    def forward(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gamma, delta = (self.weight @ m.to(self.weight.dtype)).chunk(2)
        return gamma, delta


class MoSLoRALinear(nn.Module):
    """A frozen ``base`` linear layer plus the (reconstructed) MoSLoRA update (see the module docstring).

    ``film`` is the modulation map; pass the same :class:`FiLM` to every layer for the shared variant (it is then
    owned by the model, not by the layer)."""

    def __init__(self, base: nn.Linear, pref: Preference, r: int, alpha: float, film: FiLM | None = None,
                 dropout: float = 0.0):
        super().__init__()
        self.base, self.r, self.scale = base, r, alpha / r
        object.__setattr__(self, "pref", pref)
        dev = base.weight.device
        self.lora_A = nn.Parameter(_kaiming(torch.empty(r, base.in_features, device=dev)))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, device=dev))
        if film is None:
            self.film = FiLM(pref.dim, r, dev)
        else:
            object.__setattr__(self, "film", film)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma, delta = self.film(self.pref.vector())
        h = self.drop(x).to(self.lora_A.dtype) @ self.lora_A.T  # [..., r] shared low-rank features
        h = (1 + gamma) * h + delta
        return self.base(x) + (self.scale * h @ self.lora_B.T).to(x.dtype)


def target_linears(model: nn.Module, targets: list[str]) -> list[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute, layer) of every ``nn.Linear`` whose qualified name ends with one of ``targets``."""
    found = []
    for name, module in model.named_modules():
        for attr, child in module.named_children():
            full = f"{name}.{attr}" if name else attr
            if isinstance(child, nn.Linear) and any(full == t or full.endswith("." + t) for t in targets):
                found.append((module, attr, child))
    if not found:
        raise ValueError(f"no linear layer of {type(model).__name__} matches adapter.target_modules={targets}")
    return found


def wrap_model(model: nn.Module, kind: str, targets: list[str], k: int, *, r: int = 8, r1: int = 4, r2: int = 4,
               alpha: float = 8.0, dropout: float = 0.0, modulation: str = "shared",
               objective_vectors: torch.Tensor | None = None) -> Preference:
    """Freeze ``model`` and wrap its target linears with ``kind`` (pblora | moslora) adapters for k objectives;
    returns the :class:`Preference` (also registered as ``model.arm_preference``)."""
    for p in model.parameters():
        p.requires_grad_(False)
    dev = next(model.parameters()).device
    pref = Preference(k, objective_vectors).to(dev)
    model.add_module("arm_preference", pref)
    film = None
    if kind == "moslora" and modulation == "shared":
        film = FiLM(pref.dim, r, dev)
        model.add_module("arm_film", film)
    for parent, attr, layer in target_linears(model, targets):
        if kind == "pblora":
            wrapped = PBLoRALinear(layer, pref, r1, r2, alpha, dropout)
        elif kind == "moslora":
            wrapped = MoSLoRALinear(layer, pref, r, alpha, film, dropout)
        else:
            raise ValueError(f"adapter.kind: {kind!r}; wrap_model takes pblora | moslora")
        setattr(parent, attr, wrapped)
    return pref


def set_preference(model: nn.Module, lam: torch.Tensor | list[float] | None) -> None:
    """Write λ into the model's :class:`Preference` (no-op for ``lam=None`` or a model without one)."""
    pref = getattr(model, "arm_preference", None)
    if lam is not None and pref is not None:
        pref.set(lam)


def trainable_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (each shared parameter counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
