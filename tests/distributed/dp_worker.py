"""Rank processes of the data-parallel tests (spawned; importable by module name from this folder)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

CASES = [  # (algo keys, train keys): the one-process run uses micro_batch_size=0, the ranks the value given
    ({"loss_agg": "token_mean"}, {"mini_batches": 2, "micro_batch_size": 1}),
    ({"loss_agg": "seq_mean_token_mean"}, {"mini_batches": 1, "micro_batch_size": 2}),
    ({"loss_agg": "seq_mean_token_sum_norm", "kl_coef": 0.1}, {"mini_batches": 1, "micro_batch_size": 3}),
    ({"loss_agg": "token_mean"}, {"mini_batches": 3, "micro_batch_size": 2}),  # one mini-batch per group
]


def update_batch(model, tok):
    """12 sampled rows of 3 prompts with uneven rewards and masks, advantages set; the first 9 are returned: groups
    of 4, 4 and 1 rows (uneven shards; a mini-batch of one group of one row leaves a rank empty)."""
    from credo.config import AlgoConfig, SamplingConfig
    from credo.credit import compute_advantages
    from credo.engines import ENGINES

    torch.manual_seed(0)
    prompts = [tok(f"{i} + {i} =")["input_ids"] for i in range(3)]
    trajs = ENGINES.get("hf")(model, tok).generate(prompts, 4, SamplingConfig(max_new_tokens=5, stop=[]))
    for i, t in enumerate(trajs):
        t.reward = float(i % 3 == 0) + 0.1 * i
        if i % 5 == 1:
            t.loss_mask[-2:] = 0.0  # uneven valid-token counts across rows and ranks
    compute_advantages(trajs, AlgoConfig())
    return trajs[:9]


def join(rank: int, world: int, store: str, device: str = "cpu") -> torch.device:
    """Join a process group (gloo on CPU, nccl on CUDA, one GPU per rank); -> this rank's device."""
    torch.set_num_threads(1)
    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"file://{store}", rank=rank,
                            world_size=world)
    return torch.device(f"cuda:{rank}" if device == "cuda" else "cpu")


def full(t: torch.Tensor) -> torch.Tensor:
    """A whole tensor: FSDP's sharded DTensors are all-gathered (collective: every rank calls it in the same order)."""
    from torch.distributed.tensor import DTensor

    return t.full_tensor() if isinstance(t, DTensor) else t


def one_update(learner_cls, model, pad_id: int, trajs, algo: dict, train: dict):
    """(flattened gradient of each optimizer step, flattened parameters after each optimizer step, metrics) of one
    update."""
    from credo.config import AlgoConfig, SamplingConfig, TrainConfig

    learner = learner_cls(model, pad_id, AlgoConfig(**algo), TrainConfig(lr=1e-2, grad_clip=0.0, **train),
                          SamplingConfig(max_new_tokens=5))
    params = [p for g in learner.opt.param_groups for p in g["params"]]
    grads, weights, step = [], [], learner.step

    def record():
        grads.append(torch.cat([full(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).clone()
                                for p in params]))
        out = step()
        weights.append(torch.cat([full(p.detach()).reshape(-1).clone() for p in params]))
        return out

    learner.step = record
    learner.attach_logprobs(trajs)
    metrics = learner.update(trajs)
    return grads, weights, metrics


def update_ranks(rank: int, world: int, store: str, setup: str, out: str, backend: str = "ddp",
                 device: str = "cpu") -> None:
    """Every case of CASES on this rank with the learner of ``backend``; rank 0 saves the results to ``out``."""
    import copy

    from credo.distributed import trainer_class

    dev = join(rank, world, store, device)
    data = torch.load(setup, weights_only=False)
    learner_cls = trainer_class(backend).learner_cls
    results = [one_update(learner_cls, copy.deepcopy(data["model"]).to(dev), data["pad_id"],
                          copy.deepcopy(data["trajs"]), algo, train) for algo, train in CASES]
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


def train_ranks(rank: int, world: int, port: int, overrides: list[str], out: str, kill_at: int,
                backend: str = "ddp") -> None:
    """A DataParallelTrainer run through the CLI's build_trainer: straight through in ``out/a``; killed after the
    checkpoint of ``kill_at`` in ``out/b`` and resumed there; both export the policy."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from credo.config import load_config
    from credo.train.multi import build_trainer

    def cfg(run: str):
        return load_config(None, overrides + [f"log.output_dir={out}/{run}", f"train.backend={backend}"])

    from credo.distributed import trainer_class

    trainer_cls = trainer_class(backend)

    class Killed(Exception):
        pass

    save = trainer_cls.save

    def save_then_die(self):
        path = save(self)
        if self.step == kill_at:
            raise Killed
        return path

    straight = build_trainer(cfg("a"))
    straight.run()
    straight.export()
    trainer_cls.save = save_then_die
    try:
        build_trainer(cfg("b")).run()
    except Killed:
        pass
    trainer_cls.save = save
    resumed = build_trainer(cfg("b"), resume=True)
    resumed.run()
    resumed.export()
    dist.destroy_process_group()
