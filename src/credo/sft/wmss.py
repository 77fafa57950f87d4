"""WMSS (weak-driven learning): entropy scoring, WD-DS resampling and the WD-JT mixed-logit loss.

M0 is a weak checkpoint (default: the pre-SFT base), M1 the strong model after SFT. Stage 2 (WD-DS) resamples the
SFT set by p ∝ α·norm(H0) + β·norm(relu(H0 − H1)) + γ·norm(relu(H1 − H0)), with H_k the teacher-forced mean token
entropy of each example under M_k. Stage 3 (WD-JT) trains on cross-entropy of the mixed logits
z = (1 − λ)·z_weak + λ·z_strong; only the strong model is deployed. The trainer is :mod:`credo.sft.wmss_trainer`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from credo.sft.trainer import IGNORE, padded_batch

Example = tuple[list[int], list[int]]


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Full-vocabulary entropy in nats of ``softmax(logits)`` over the last dim: [..., V] -> [...]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def answer_positions(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token logits at labelled positions: logits [B, L, V], labels [B, L] -> (z [N, V], target [N])."""
    z, y = logits[:, :-1], labels[:, 1:].to(logits.device)
    keep = y != IGNORE
    return z[keep], y[keep]


@torch.no_grad()
def sample_entropy(model: torch.nn.Module, examples: list[Example], pad_id: int, batch_size: int = 64) -> torch.Tensor:
    """Teacher-forced mean token entropy over each example's answer tokens -> [N] float32 on CPU (nats)."""
    was_training = model.training
    model.eval()
    device, out = device_of(model), []
    for start in range(0, len(examples), batch_size):
        batch = to_device(padded_batch(examples[start:start + batch_size], pad_id), device)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        mask = (batch["labels"][:, 1:] != IGNORE).float()
        h = token_entropy(logits) * mask
        out.append((h.sum(1) / mask.sum(1).clamp(min=1)).cpu())
    model.train(was_training)
    return torch.cat(out)


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 over the model's parameter and buffer names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def data_hash(examples: list[Example]) -> str:
    return hashlib.sha256(json.dumps(examples, separators=(",", ":")).encode()).hexdigest()


def cached_entropy(model: torch.nn.Module, examples: list[Example], pad_id: int, cache_dir: Path | None,
                   batch_size: int = 64) -> torch.Tensor:
    """:func:`sample_entropy`, stored in ``cache_dir/entropy-<hash>.pt`` keyed by the data and the weights."""
    if cache_dir is None:
        return sample_entropy(model, examples, pad_id, batch_size)
    key = hashlib.sha256((data_hash(examples) + weights_hash(model) + str(pad_id)).encode()).hexdigest()[:32]
    path = Path(cache_dir) / f"entropy-{key}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    h = sample_entropy(model, examples, pad_id, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp-entropy-", suffix=".pt", dir=path.parent)
    os.close(fd)
    try:
        torch.save(h, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return h


def wdds_weights(h0: torch.Tensor, h1: torch.Tensor, alpha: float = 0.1, beta: float = 0.8,
                 gamma: float = 0.1) -> torch.Tensor:
    """WD-DS sampling distribution [N] from weak/strong entropies [N]; each term is normalised to sum 1 (a term that
    is zero everywhere contributes nothing). Falls back to uniform when every term is zero."""
    if min(alpha, beta, gamma) < 0 or alpha + beta + gamma <= 0:
        raise ValueError(f"wmss.alpha/beta/gamma must be >= 0 and not all 0, got {alpha}/{beta}/{gamma}")
    if h0.shape != h1.shape or h0.dim() != 1:
        raise ValueError(f"entropies must be two [N] tensors, got {tuple(h0.shape)} and {tuple(h1.shape)}")

    def norm(x: torch.Tensor) -> torch.Tensor:
        s = x.sum()
        return x / s if s > 0 else torch.zeros_like(x)

    h0, h1 = h0.double(), h1.double()
    p = alpha * norm(h0) + beta * norm(torch.relu(h0 - h1)) + gamma * norm(torch.relu(h1 - h0))
    return p / p.sum() if p.sum() > 0 else torch.full_like(p, 1.0 / len(p))


def wdds_resample(p: torch.Tensor, n: int, seed: int) -> list[int]:
    """``n`` indices drawn with replacement from ``p`` [N] (seeded, CPU generator)."""
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(p.double().cpu(), n, replacement=True, generator=g).tolist()


def mix_logits(z_weak: torch.Tensor, z_strong: torch.Tensor, lam: float) -> torch.Tensor:
    """(1 − λ)·z_weak + λ·z_strong in float32 on z_strong's device (the weak model may live elsewhere)."""
    return (1 - lam) * z_weak.to(z_strong.device).float() + lam * z_strong.float()


def saturation_stats(z_strong: torch.Tensor, p_grad: torch.Tensor, target: torch.Tensor,
                     scale: float = 1.0) -> dict[str, float]:
    """Diagnostics on labelled positions: z_strong [N, V] logits, p_grad [N, V] the softmax whose CE gradient reaches
    the strong logits (p_mix, or p_strong for plain SFT), ``scale`` = ∂z/∂z_strong (λ, or 1).

    margin: target logit minus mean non-target logit of the strong model; nontarget_grad_mass: Σ_{k≠y} |∂L/∂z_s,k|
    = scale·(1 − p_grad(y)), mean over tokens; p_target: the strong model's own mean p(y)."""
    zs = z_strong.detach().float()
    v = zs.shape[-1]
    zy = zs.gather(-1, target[:, None]).squeeze(-1)
    margin = zy - (zs.sum(-1) - zy) / max(v - 1, 1)
    py_grad = p_grad.detach().float().gather(-1, target[:, None]).squeeze(-1)
    p_target = torch.softmax(zs, -1).gather(-1, target[:, None]).squeeze(-1)
    return {"margin": float(margin.mean()), "nontarget_grad_mass": float((scale * (1 - py_grad)).mean()),
            "p_target": float(p_target.mean())}


def wmss_loss(weak: torch.nn.Module, strong: torch.nn.Module, batch: dict[str, torch.Tensor], lam: float,
              freeze_weak: bool = False) -> tuple[torch.Tensor, int, dict[str, float]]:
    """Summed CE of the mixed logits over labelled tokens (on the strong model's device), the token count and
    :func:`saturation_stats`. Each model gets the batch on its own device; a frozen weak model runs without grad."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    z_s, y = answer_positions(strong(**to_device(inputs, device_of(strong))).logits, batch["labels"])
    if lam == 1.0:  # plain SFT of the strong model: the weak model is not needed
        z = z_s.float()
    else:
        with torch.set_grad_enabled(not freeze_weak and torch.is_grad_enabled()):
            z_w, _ = answer_positions(weak(**to_device(inputs, device_of(weak))).logits, batch["labels"])
        z = mix_logits(z_w, z_s, lam)
    loss = F.cross_entropy(z, y, reduction="sum")
    return loss, int(y.numel()), saturation_stats(z_s, torch.softmax(z.detach(), -1), y, scale=lam)
