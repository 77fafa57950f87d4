"""Scale-out backends (``train.backend``): ``single`` (the default, one process), ``ddp`` (data-parallel ranks
under ``torchrun``, :mod:`credo.distributed.data_parallel`), ``fsdp`` (the same ranks with the weights sharded by
FSDP2, :mod:`credo.distributed.fsdp`) and ``ray`` (one Ray actor group per policy,
:mod:`credo.distributed.ray_backend`, extra ``credo[ray]``). Every backend runs the RL step of
:class:`credo.train.rl.RLTrainer`; only where the model, the engine and the learner live differs."""

from __future__ import annotations

from typing import Any

BACKENDS = ("single", "ddp", "fsdp", "ray")
RESOURCE_KEYS = ("num_cpus", "num_gpus")


def trainer_class(backend: str, multi_agent: bool | str = False) -> Any:
    """The trainer class of ``train.backend`` (imports ray only for ``ray``); ``multi_agent`` may be the
    ``multi.workflow`` name (``hacpo`` has a trainer of its own)."""
    if backend == "ddp":
        from credo.distributed.data_parallel import DataParallelTrainer
        return DataParallelTrainer
    if backend == "fsdp":
        from credo.distributed.fsdp import FsdpTrainer
        return FsdpTrainer
    if backend == "ray":
        from credo.distributed.ray_backend import RayHACPOTrainer, RayMultiAgentTrainer, RayTrainer
        if multi_agent == "hacpo":
            return RayHACPOTrainer
        return RayMultiAgentTrainer if multi_agent else RayTrainer
    from credo.train.rl import RLTrainer
    return RLTrainer
