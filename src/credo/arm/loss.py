"""ARM training losses on summed response log-probabilities (no reference model, as in GenARM).

Pairs (y0, y1) carry per-objective labels z_i ∈ {0, 1} (z_i = 0 ⇔ objective i prefers y0); the margin is
Δ = log π(y0|x) − log π(y1|x). GenARM's loss is :func:`genarm_loss`; the multi-objective loss
(:func:`preference_loss`, UniARM's Eq. 5 as reconstructed) is L = L_dim + lam_reg · L_glob with
L_dim = Σ_i λ_i · mean −log σ(β (−1)^{z_i} Δ) and L_glob = mean −log σ(β Δ Σ_i λ_i (−1)^{z_i}).
With one objective, λ = [1] and lam_reg = 0 it equals :func:`genarm_loss`; PARM's loss is lam_reg = 0.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from credo.models.device import model_device


def genarm_loss(logp_w: torch.Tensor, logp_l: torch.Tensor, beta: float) -> torch.Tensor:
    """−mean log σ(β [log π(y_w|x) − log π(y_l|x)]); inputs [N] summed log-probs."""
    return -F.logsigmoid(beta * (logp_w - logp_l)).mean()


def preference_loss(logp0: torch.Tensor, logp1: torch.Tensor, z: torch.Tensor, lam: torch.Tensor, beta: float,
                    lam_reg: float) -> tuple[torch.Tensor, dict[str, float]]:
    """L_dim + lam_reg · L_glob (module docstring). logp0, logp1: [N]; z: [N, k] labels in {0, 1}; lam: [k].

    Returns (loss, {"loss_dim", "loss_glob"} as floats)."""
    margin = (logp0 - logp1).unsqueeze(-1)  # [N, 1]
    sign = 1.0 - 2.0 * z.to(margin.dtype)  # (−1)^{z_i}: [N, k]
    lam = lam.to(margin.device, margin.dtype)
    per_obj = -F.logsigmoid(beta * sign * margin).mean(0)  # [k]
    dim = (lam * per_obj).sum()
    glob = -F.logsigmoid(beta * margin.squeeze(-1) * (sign * lam).sum(-1)).mean()
    loss = dim + lam_reg * glob if lam_reg else dim
    return loss, {"loss_dim": dim.item(), "loss_glob": glob.item()}


def sequence_logprobs(model: torch.nn.Module, prompts: list[list[int]], responses: list[list[int]],
                      pad_id: int) -> torch.Tensor:
    """Σ_t log π(y_t | x, y_<t) per row: [N], on the model's device. Rows are prompt + response, right-padded."""
    dev = model_device(model)
    seqs = [list(p) + list(r) for p, r in zip(prompts, responses)]
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long, device="cpu")
    mask = torch.zeros((len(seqs), length), dtype=torch.long, device="cpu")
    target = torch.zeros((len(seqs), length), dtype=torch.bool, device="cpu")
    for i, (p, s) in enumerate(zip(prompts, seqs)):
        ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
        target[i, len(p): len(s)] = True
    ids, mask, target = ids.to(dev), mask.to(dev), target.to(dev)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (lp * target[:, 1:]).sum(-1)
