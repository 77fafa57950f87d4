"""Fully sharded data parallelism (``train.backend=fsdp``, launched by ``torchrun``): the data-parallel trainer of
:mod:`credo.distributed.data_parallel` with the policy's weights, gradients and optimizer state sharded over the
ranks by torch FSDP2 (``torch.distributed.fsdp.fully_shard``).

What is shared with ``ddp``: sharded generation (each rank samples its slice of the prompts), sharded old/reference
log-probs, the row shards of every mini-batch and the all-reduced token/sequence counts that make each rank's loss
its share of the global loss. What differs:

- each decoder layer (the model's ``_no_split_modules``) and the whole model are one FSDP unit each; parameters are
  all-gathered per unit in the forward pass and gradients reduce-scattered (summed, not averaged) in the backward
  pass, so every rank holds 1/N of the weights, gradients and AdamW moments; the KL reference is sharded too;
- every rank runs the same number of forward passes (the all-gathers are collective): a rank with fewer rows in a
  mini-batch pads with micro-batches of a masked row (zero loss, zero gradient, zero metric weight);
- generation needs full weights: every unit is unsharded (all-gathered) for a generate call and resharded after;
- checkpoints: the full weights are gathered to rank 0 and written as a plain Hugging Face directory (atomically,
  as every checkpoint); each rank writes its own trainer state (its optimizer shard, RNG) to its run folder.

Single-policy, full-weight training only (LoRA, fp16 loss scaling and the reward model are refused by the config).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor

from credo.distributed.data_parallel import DataParallelLearner, DataParallelTrainer, broadcast_weights
from credo.models.device import model_device
from credo.train.checkpoint import save_hf_dir
from credo.trajectory import Trajectory


def shard_model(model: torch.nn.Module) -> torch.nn.Module:
    """Shard ``model`` in place over the default process group: one FSDP unit per decoder layer (the classes named
    in ``model._no_split_modules``) and one for the rest. Gradients are summed over ranks, not averaged (the loss
    of each rank is already its share of the global loss)."""
    # the mesh on the model's own device (FSDP's default mesh is on the accelerator, even for a CPU run)
    mesh = init_device_mesh(model_device(model).type, (dist.get_world_size(),))
    layers = set(getattr(model, "_no_split_modules", None) or [])
    for module in list(model.modules())[1:]:
        if type(module).__name__ in layers:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    for module in fsdp_units(model):
        module.set_gradient_divide_factor(1.0)
        module.set_force_sum_reduction_for_comms(True)  # a plain SUM: gloo has no PREMUL_SUM
    return model


def fsdp_units(model: torch.nn.Module) -> list[FSDPModule]:
    return [m for m in model.modules() if isinstance(m, FSDPModule)]


@contextmanager
def full_weights(model: torch.nn.Module) -> Iterator[None]:
    """All units of a sharded ``model`` unsharded (every rank must enter: the all-gathers are collective); forward
    passes inside do not reshard, so any number of them may run on each rank (generation)."""
    units = fsdp_units(model)
    for m in units:
        m.set_reshard_after_forward(False, recurse=False)
        m.unshard()
    try:
        yield
    finally:
        for m in units:
            m.reshard()
            m.set_reshard_after_forward(True, recurse=False)


def gathered_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full (unsharded) state dict on CPU on rank 0, empty on the other ranks (collective)."""
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


class GatheredModel:
    """Stands in for a sharded Hugging Face model where ``save_pretrained`` is called: writes the gathered weights
    (transformers writes on rank 0 only)."""

    def __init__(self, model: Any):
        self.model, self.state_dict = model, gathered_state_dict(model)

    def save_pretrained(self, path: Any, **kw: Any) -> None:
        if dist.get_rank() == 0:
            self.model.save_pretrained(path, state_dict=self.state_dict, **kw)


def to_local(state: Any) -> Any:
    """Nested containers with every DTensor replaced by this rank's local shard (for the trainer state on disk)."""
    if isinstance(state, DTensor):
        return state.to_local()
    if isinstance(state, dict):
        return {k: to_local(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(to_local(v) for v in state)
    return state


def masked_copy(t: Trajectory) -> Trajectory:
    """``t`` with every token masked out: a row that costs a forward pass and contributes nothing."""
    return dataclasses.replace(t, loss_mask=torch.zeros_like(t.loss_mask), info=dict(t.info))


class FsdpLearner(DataParallelLearner):
    """A :class:`DataParallelLearner` over a policy (and KL reference) sharded by FSDP2."""

    filler: Trajectory | None = None

    def place(self, model: Any, reference: Any, kl: bool) -> Any:
        broadcast_weights(model)  # fully_shard keeps each rank's own slice of its own copy
        if kl and reference is None:
            reference = copy.deepcopy(model)
        if reference is not None:
            shard_model(reference.eval().requires_grad_(False))
        shard_model(model)
        return reference

    def shard(self, rows: list[Trajectory]) -> list[Trajectory]:
        self.filler = masked_copy(rows[0]) if rows else None
        return super().shard(rows)

    def micro_batches(self, rows: list[Trajectory]) -> list[list[Trajectory]]:
        """This rank's micro-batches, padded with masked rows to the largest count of any rank."""
        out = super().micro_batches(rows)
        most = torch.tensor([len(out)], device=self.device)
        dist.all_reduce(most, op=dist.ReduceOp.MAX)
        return out + [[self.filler]] * (int(most) - len(out))

    def reduce_gradients(self) -> None:
        """Nothing to do: FSDP reduce-scatters (sums) each gradient in the backward pass."""

    def state_dict(self) -> dict:
        return to_local(super().state_dict())

    def load_state_dict(self, state: dict) -> None:
        """This rank's optimizer shard: the moments are rebuilt as DTensors over their parameters."""
        super().load_state_dict(state)
        for p, s in self.opt.state.items():
            if isinstance(p, DTensor):
                for k, v in s.items():
                    if torch.is_tensor(v) and not isinstance(v, DTensor) and v.dim() == p.dim():
                        s[k] = DTensor.from_local(v.to(p.device), p.device_mesh, p.placements, shape=p.shape,
                                                  stride=p.stride())


class FullWeightsEngine:
    """Wraps the (sharded) engine: the policy's weights are unsharded around each generate call."""

    def __init__(self, engine: Any, model: torch.nn.Module):
        self.engine, self.model = engine, model

    def generate(self, *args: Any, **kw: Any) -> list[Trajectory]:
        with full_weights(self.model):
            return self.engine.generate(*args, **kw)

    def sync_weights(self, version: int) -> None:
        self.engine.sync_weights(version)


class FsdpTrainer(DataParallelTrainer):
    """:class:`DataParallelTrainer` with FSDP2-sharded weights (see the module docstring)."""

    learner_cls = FsdpLearner

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.engine = FullWeightsEngine(self.engine, self.model)

    def checkpoint_models(self) -> dict[str, Any]:
        """The full weights, gathered from every rank and written by rank 0; the other ranks write only their
        trainer state."""
        gathered = GatheredModel(self.model)
        return {"policy": gathered} if self.rank == 0 else {}

    def export(self, path: str | Path | None = None) -> Path:
        out = Path(path) if path is not None else self.run_dir / "policy"
        gathered = GatheredModel(self.model)  # every rank takes part in the gather
        return save_hf_dir(out, gathered, self.tok) if self.rank == 0 else self.run_dir / "policy"
