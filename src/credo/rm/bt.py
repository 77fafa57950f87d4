"""Bradley-Terry training of a reward model on preference pairs, pairwise accuracy, and saving a trained RM."""

from __future__ import annotations

from pathlib import Path

import torch

from credo.models.lora import is_peft
from credo.rewards.pairs import Pair
from credo.rm.losses import bt_loss
from credo.rm.model import RewardModel

WEIGHTS = "reward_model.safetensors"


def pair_texts(pairs: list[Pair]) -> tuple[list[str], list[str]]:
    """(prompt + chosen, prompt + rejected) texts, as the RL trainer scores prompt + response."""
    return [p.prompt + p.chosen for p in pairs], [p.prompt + p.rejected for p in pairs]


def trunk_parameters(rm: RewardModel) -> list[torch.nn.Parameter]:
    """The trunk's trainable weights: its LoRA adapter when it has one, else all of them."""
    if is_peft(rm.trunk):
        return [p for n, p in rm.trunk.named_parameters() if "lora_" in n]
    return list(rm.trunk.parameters())


def train_bradley_terry(rm: RewardModel, pairs: list[Pair], steps: int, lr: float, batch_size: int,
                        seed: int = 0, train_trunk: bool = False) -> dict[str, float]:
    """Minimise −log σ(r(chosen) − r(rejected)) over ``steps`` mini-batches drawn with a seeded generator; the head
    (and with ``train_trunk`` the trunk or its adapter) is trained. With a frozen trunk the RTEs are computed once.
    The trunk is frozen again afterwards. -> metrics of the last step (loss, batch accuracy)."""
    chosen, rejected = pair_texts(pairs)
    params = list(rm.head.parameters())
    if train_trunk:
        trunk = trunk_parameters(rm)
        for p in trunk:
            p.requires_grad_(True)
        params += trunk
        rm.trunk.train()
    else:
        with torch.no_grad():
            rte_c, _ = rm.trunk_states(chosen)
            rte_r, _ = rm.trunk_states(rejected)
    opt = torch.optim.AdamW(params, lr=lr)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    loss = acc = torch.zeros(())
    for _ in range(steps):
        idx = torch.randint(len(pairs), (min(batch_size, len(pairs)),), generator=gen, device="cpu")
        if train_trunk:
            c, _ = rm.trunk_states([chosen[i] for i in idx], grad=True)
            r, _ = rm.trunk_states([rejected[i] for i in idx], grad=True)
        else:
            c, r = rte_c[idx.to(rte_c.device)], rte_r[idx.to(rte_r.device)]
        s_c, s_r = rm(c), rm(r)
        loss = bt_loss(s_c, s_r)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc = (s_c > s_r).float().mean()
    rm.trunk.eval().requires_grad_(False)
    return {"rm/pretrain_loss": float(loss.detach()), "rm/pretrain_acc": float(acc)}


@torch.no_grad()
def pair_accuracy(rm: RewardModel, pairs: list[Pair]) -> float:
    """Share of pairs where the vanilla RM (no fusion) scores chosen above rejected."""
    chosen, rejected = pair_texts(pairs)
    return float((rm(rm.trunk_states(chosen)[0]) > rm(rm.trunk_states(rejected)[0])).float().mean())


def trained_state(rm: RewardModel, with_trunk: bool) -> dict[str, torch.Tensor]:
    """The weights that training may change: head, fusion, and (``with_trunk``) the trunk's trainable weights."""
    keep = {id(p) for p in rm.trainable()} | ({id(p) for p in trunk_parameters(rm)} if with_trunk else set())
    return {n: p.detach().cpu().clone() for n, p in rm.named_parameters() if id(p) in keep}


def load_trained_state(rm: RewardModel, state: dict[str, torch.Tensor], where: str = "reward model state") -> None:
    params = dict(rm.named_parameters())
    unknown = sorted(set(state) - set(params))
    if unknown:
        raise ValueError(f"{where}: weights {unknown[:3]} do not belong to this reward model (another rm.model, "
                         "rm.fusion or rm.d?)")
    with torch.no_grad():
        for n, t in state.items():
            if params[n].shape != t.shape:
                raise ValueError(f"{where}: {n} has shape {tuple(t.shape)}, this reward model {tuple(params[n].shape)}")
            params[n].copy_(t.to(params[n].device))


def save_reward_model(path: str | Path, rm: RewardModel, with_trunk: bool = False) -> Path:
    """Write the trained weights (see :func:`trained_state`) to ``path/reward_model.safetensors``."""
    from safetensors.torch import save_file

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    save_file(trained_state(rm, with_trunk), str(p / WEIGHTS))
    return p


def load_reward_model(path: str | Path, rm: RewardModel) -> None:
    """Load weights written by :func:`save_reward_model` (a fusion missing from the file keeps its initialisation)."""
    from safetensors.torch import load_file

    f = Path(path) / WEIGHTS
    if not f.is_file():
        raise FileNotFoundError(f"rm.load: {f} not found (a folder written by credo.rm.save_reward_model)")
    load_trained_state(rm, load_file(str(f)), str(f))
