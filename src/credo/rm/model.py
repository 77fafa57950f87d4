"""A reward model: a causal-LM trunk, an optional R2M fusion (cross-attention to policy states) and a scalar head.

The trunk is any Hugging Face causal LM that ``credo.models`` loads (frozen, or trainable / LoRA for Bradley-Terry
pre-training). The reward token's embedding (RTE) is the trunk's last-layer state of the last token of
``prompt + response``; the reward is ``head(H)`` with H the RTE (vanilla) or ``(1 − ω)·Ĥ + ω·RTE`` (R2M).
"""

from __future__ import annotations

import torch
from torch import nn

from credo.models.device import model_device
from credo.models.forward import left_pad
from credo.rm.fusion import CrossAttention, mix


def pad_states(seqs: list[torch.Tensor], device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row states [S_i, D] -> (states [B, S, D] float32, mask [B, S]) right-padded with zeros, on ``device``."""
    length, dim = max(1, max(s.shape[0] for s in seqs)), seqs[0].shape[1]
    out = torch.zeros((len(seqs), length, dim), dtype=torch.float32, device=device)
    mask = torch.zeros((len(seqs), length), dtype=torch.long, device=device)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s.to(device=device, dtype=torch.float32)
        mask[i, : s.shape[0]] = 1
    return out, mask


@torch.no_grad()
def last_layer_states(model: nn.Module, seqs: list[torch.Tensor], pad_id: int,
                      batch_size: int = 64) -> list[torch.Tensor]:
    """Last-layer hidden states of each token sequence (all but its last token, as a rollout's forward sees them):
    a list of [S_i − 1, D] float32 CPU tensors. The model is run in eval mode and restored to its mode."""
    was_training, device = model.training, model_device(model)
    model.eval()
    out: list[torch.Tensor] = []
    try:
        for i in range(0, len(seqs), batch_size):
            chunk = [s[:-1] if len(s) > 1 else s for s in seqs[i:i + batch_size]]
            ids, mask = left_pad(chunk, pad_id, device)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            h = model(input_ids=ids, attention_mask=mask, position_ids=pos, output_hidden_states=True,
                      use_cache=False).hidden_states[-1].float()
            for j, s in enumerate(chunk):
                out.append(h[j, h.shape[1] - len(s):].cpu())
    finally:
        model.train(was_training)
    return out


class RewardModel(nn.Module):
    """Trunk + optional fusion + head. ``d_policy`` is the width of the states the fusion attends to (the policy's
    hidden size, or the RM's own for the ``self`` control); ``d`` the attention width (0 = no fusion)."""

    def __init__(self, trunk: nn.Module, tokenizer, d_policy: int = 0, d: int = 0):
        super().__init__()
        self.trunk, self.tok = trunk, tokenizer
        width = trunk.config.hidden_size
        self.head = nn.Linear(width, 1)
        self.fusion = CrossAttention(width, d_policy, d) if d > 0 else None
        self.to(model_device(trunk))

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def encode(self, texts: list[str]) -> list[torch.Tensor]:
        """Token ids of each text under the RM's tokenizer (1-D CPU tensors)."""
        return [torch.as_tensor(self.tok(t)["input_ids"], dtype=torch.long) for t in texts]

    def trunk_states(self, texts: list[str], batch_size: int = 64, keep_all: bool = False,
                     grad: bool = False) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """RTE [B, D_rm] (last-layer state of each text's last token, on the RM's device) and, with ``keep_all``, each
        text's full last-layer states [S_i, D_rm] on CPU. Without ``grad`` nothing is recorded for autograd."""
        ids = self.encode(texts)
        rtes, alls = [], [] if keep_all else None
        with torch.set_grad_enabled(grad):
            for i in range(0, len(ids), batch_size):
                chunk = ids[i:i + batch_size]
                x, mask = left_pad(chunk, self.tok.pad_token_id, self.device)
                pos = (mask.cumsum(-1) - 1).clamp(min=0)
                h = self.trunk(input_ids=x, attention_mask=mask, position_ids=pos, output_hidden_states=True,
                               use_cache=False).hidden_states[-1].float()
                rtes.append(h[:, -1])  # left padding: the last column is every row's last token
                if keep_all:
                    alls += [h[j, h.shape[1] - len(s):].detach().cpu() for j, s in enumerate(chunk)]
        return torch.cat(rtes), alls

    def forward(self, rte: torch.Tensor, states: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                w: float = 1.0) -> torch.Tensor:
        """Rewards [B] from RTE [B, D_rm]; with a fusion, ``states`` [B, S, D_p] and ``mask`` [B, S] are mixed in by
        ω = ``w`` (w = 1: the plain RTE)."""
        h = rte
        if self.fusion is not None and states is not None:
            h = mix(rte, self.fusion(rte, states, mask), w)
        return self.head(h).squeeze(-1)

    def trainable(self, fusion: bool = True) -> list[nn.Parameter]:
        """The parameters R2M updates during RL: the head, and the fusion when ``fusion``."""
        params = list(self.head.parameters())
        if fusion and self.fusion is not None:
            params += list(self.fusion.parameters())
        return params
