"""Data-parallel training with torch.distributed (``train.backend=ddp``, launched by ``torchrun``).

Every rank holds a replica of the policy. Generation is sharded: each rank samples its slice of the prompts and the
trajectories are all-gathered, so rewards, credit and selection run on the whole batch, identically, on every rank
(they are cheap); old and reference log-probs are computed on row shards and all-gathered. Each mini-batch is split
into contiguous row shards; the token and sequence counts that normalise the loss are all-reduced, so every rank's
loss is its share of the *global* loss, and the gradients are summed (one all-reduce of the flattened gradients per
optimizer step) before clipping and the optimizer step, which then agree on every rank. The update is therefore the
one-process update for the same batch, for any number of ranks and micro-batches (to float rounding). Rank 0 writes
the run folder; rank r > 0 writes ``<output_dir>.rank<r>`` (its metrics and trainer state, RNG included, so a
resumed run continues exactly; the weights are read from rank 0's checkpoint).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from credo.config import Config, ConfigError
from credo.models import dtype_name, load_causal_lm, resolve_model_dir
from credo.models.lora import is_peft
from credo.train.learner import Learner
from credo.train.rl import RLTrainer
from credo.trajectory import Trajectory

REPLICATED = ("actor/grad_norm",)  # equal on every rank after the gradient all-reduce: not summed


def init_distributed(device: str) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU, nccl on CUDA);
    -> (rank, world size)."""
    if not dist.is_initialized():
        if "WORLD_SIZE" not in os.environ:
            raise ConfigError("train.backend=ddp|fsdp: start the run with torchrun, e.g. torchrun --nproc_per_node 2 "
                              "-m credo.cli train RECIPE train.backend=ddp")
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def broadcast_weights(model: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (replicas start equal even if a model was initialised
    from an unseeded source)."""
    with torch.no_grad():
        for t in model.state_dict().values():
            dist.broadcast(t, 0)


def contiguous_shard(items: list, rank: int, world: int) -> list:
    """Rank ``rank``'s contiguous slice of ``items`` (the first ranks get one more when it does not divide)."""
    per, extra = divmod(len(items), world)
    start = rank * per + min(rank, extra)
    return items[start:start + per + (rank < extra)]


class DataParallelLearner(Learner):
    """A :class:`Learner` whose mini-batches are sharded over the ranks of the default process group."""

    def __init__(self, model: Any, pad_id: int, algo: Any, train: Any, sampling: Any, reference: Any = None,
                 adapter: str | None = None):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        reference = self.place(model, reference, algo.kl_coef > 0)
        super().__init__(model, pad_id, algo, train, sampling, reference=reference, adapter=adapter)

    def place(self, model: Any, reference: Any, kl: bool) -> Any:
        """Prepare the policy (and the KL reference, returned) before the optimizer sees its parameters: here the
        replicas are made equal (the FSDP learner also shards them)."""
        broadcast_weights(model)
        return reference

    def shard(self, rows: list[Trajectory]) -> list[Trajectory]:
        return contiguous_shard(rows, self.rank, self.world)

    @torch.no_grad()
    def attach_logprobs(self, trajs: list[Trajectory]) -> None:
        """Old and reference log-probs of this rank's contiguous shard, all-gathered onto every trajectory."""
        mine = self.shard(trajs)
        super().attach_logprobs(mine)
        keys = ("old_logprobs", "ref_logprobs")
        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, [{k: t.info[k] for k in keys if k in t.info} for t in mine])
        for t, info in zip(trajs, [x for part in parts for x in part]):
            t.info.update(info)

    def global_counts(self, n_tok: float, n_seq: float) -> tuple[float, float]:
        t = torch.tensor([n_tok, n_seq], dtype=torch.float64, device=self.device)  # nccl reduces device tensors
        dist.all_reduce(t)
        return float(t[0]), float(t[1])

    def reduce_gradients(self) -> None:
        params = [p for g in self.opt.param_groups for p in g["params"]]
        for p in params:
            if p.grad is None:  # a rank without rows in this mini-batch contributes zeros
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))
            offset += p.numel()

    def reduce_metrics(self, sums: dict[str, float], weight: float) -> tuple[dict[str, float], float]:
        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, (dict(sums), weight))
        out: dict[str, float] = {}
        for s, _ in parts:
            for k, v in s.items():
                out[k] = v if k in REPLICATED else out.get(k, 0.0) + v
        return out, sum(w for _, w in parts)


class ShardedEngine:
    """Wraps an engine: each rank generates its contiguous slice of the prompts and the trajectories are
    all-gathered in prompt order. The sampling seed of a call is drawn from the global generator (identical on
    every rank), offset by the rank; the global stream then stays identical across ranks, and is checkpointed."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def generate(self, prompts: list[list[int]], n: int, sampling: Any, version: int = 0,
                 greedy: bool = False) -> list[Trajectory]:
        seed = int(torch.randint(2**62, (1,), device="cpu"))
        mine = contiguous_shard(list(prompts), self.rank, self.world)
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + self.rank)
            out = self.engine.generate(mine, n, sampling, version=version, greedy=greedy) if mine else []
        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, out)
        trajs = [t for part in parts for t in part]
        for i, t in enumerate(trajs):
            t.group_id = i // n
        return trajs

    def sync_weights(self, version: int) -> None:
        self.engine.sync_weights(version)


class DataParallelTrainer(RLTrainer):
    """:class:`RLTrainer` on one rank of a data-parallel group (see the module docstring)."""

    learner_cls = DataParallelLearner

    def __init__(self, cfg: Config, resume: bool = False, overwrite: bool = False, **objects: Any):
        self.rank, self.world = init_distributed(cfg.train.device)
        self.root = Path(cfg.log.output_dir)  # rank 0's run folder: the one copy of the weights
        if self.rank == 0 and not resume:  # built models (embedded, converted) are written once, by rank 0
            resolve_model_dir(cfg.model)
        dist.barrier()
        if self.rank > 0:
            cfg = copy.deepcopy(cfg)
            cfg.log.output_dir = f"{cfg.log.output_dir}.rank{self.rank}"
            cfg.log.progress = cfg.log.report = cfg.log.tensorboard = cfg.log.wandb = False
        super().__init__(cfg, resume, overwrite, **objects)  # the learner makes the replicas equal
        steps: list[Any] = [None] * self.world
        dist.all_gather_object(steps, self.step)
        if len(set(steps)) > 1:  # a run killed between two ranks' checkpoint writes
            raise RuntimeError(f"{cfg.log.output_dir}: the ranks' latest checkpoints are of different steps "
                               f"{steps}; remove the newer ones so that every rank resumes from the same step")
        self.engine = ShardedEngine(self.engine)

    def _open(self, cfg: Config, *args: Any, **kw: Any) -> Path | None:
        """Rank r > 0 reads its own trainer state but the weights of rank 0's checkpoint of the same step
        (transformers writes weights on rank 0 only; the replicas are equal)."""
        ckpt = super()._open(cfg, *args, **kw)
        return self.root / "checkpoints" / ckpt.name if ckpt is not None and self.rank > 0 else ckpt

    def reference(self, resuming: bool):
        """Rank 0 writes the KL reference; the other ranks read it back from rank 0's folder."""
        if self.rank == 0:
            ref = super().reference(resuming)
            dist.barrier()
            return ref
        dist.barrier()
        if self.cfg.algo.kl_coef <= 0 or is_peft(self.model):
            return None
        return load_causal_lm(self.root / "reference", dataclasses.replace(
            self.cfg.model, dtype=dtype_name(self.model.dtype)), self.device)

    def export(self, path=None):
        return super().export(path) if self.rank == 0 else self.run_dir / "policy"

