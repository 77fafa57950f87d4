"""``train.backend=fsdp`` on CUDA with nccl (one rank per GPU, at most 2; one GPU runs one rank, which still takes the
DTensor/nccl code path): the same update as one process, and a short trainer run that checkpoints, resumes and
exports. Needs CUDA (marker ``gpu``); the CPU/gloo versions of these checks are in test_data_parallel.py."""

import copy
import socket

import pytest
import torch
import torch.multiprocessing as mp
from dp_worker import CASES, one_update, train_ranks, update_batch, update_ranks  # noqa: I001  (spawned ranks import it)
from transformers import AutoModelForCausalLM

from credo.train.learner import Learner
from credo.train.metrics import read_metrics

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def world() -> int:
    return min(torch.cuda.device_count(), 2)


def test_fsdp_update_on_nccl_equals_one_process(tiny_policy, tmp_path):
    model, tok = tiny_policy
    trajs = update_batch(model, tok)
    torch.save({"model": model, "pad_id": tok.pad_token_id, "trajs": trajs}, tmp_path / "setup.pt")
    mp.spawn(update_ranks, args=(world(), str(tmp_path / "store"), str(tmp_path / "setup.pt"), str(tmp_path / "r.pt"),
                                 "fsdp", "cuda"), nprocs=world(), join=True)
    ranks = torch.load(tmp_path / "r.pt", weights_only=False, map_location="cuda:0")
    for (algo, train), (dp_grads, dp_weights, dp_metrics) in zip(CASES, ranks):
        grads, weights, metrics = one_update(Learner, copy.deepcopy(model).to("cuda:0"), tok.pad_token_id,
                                             copy.deepcopy(trajs), algo, dict(train, micro_batch_size=0))
        g, h = grads[0], dp_grads[0]
        real = g.abs() > 1e-5
        dgrad, dweight = float((g - h).abs().max()), float((weights[0] - dp_weights[0])[real].abs().max())
        print(f"fsdp nccl x{world()} {algo} {train}: step 1: max |dgrad| {dgrad:.2e}, max |dweight| {dweight:.2e}")
        assert dgrad < 1e-5 * float(g.abs().max()), algo  # float32 on GPU: other reduction orders than the CPU's
        assert dweight < 1e-6, algo
        for k in ("actor/loss", "actor/entropy", "actor/grad_norm"):
            assert metrics[k] == pytest.approx(dp_metrics[k], rel=1e-4, abs=1e-6), k


def test_fsdp_trainer_on_nccl_resumes_and_exports(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    overrides = ["train.steps=3", "train.prompts_per_step=4", "sampling.n=4", "sampling.max_new_tokens=6",
                 "model.hidden_size=32", "model.num_layers=1", "model.intermediate_size=64", "task.size=32",
                 "task.eval_size=4", "eval.size=4", "eval.every=0", "eval.pass_k=0", "log.save_every=1",
                 "log.progress=false", "log.tensorboard=false", "log.report=false", "train.device=cuda",
                 "train.lr=0.01", "algo.kl_coef=0.05", "train.mixed_precision=bf16"]
    mp.spawn(train_ranks, args=(world(), port, overrides, str(tmp_path), 2, "fsdp"), nprocs=world(), join=True)
    rows = [[r for r in read_metrics(tmp_path / run / "metrics.jsonl") if "actor/loss" in r] for run in ("a", "b")]
    assert len(rows[0]) == len(rows[1]) == 3
    for x, y in zip(*rows):  # CUDA kernels need not be bitwise deterministic: close, not equal
        assert x["actor/loss"] == pytest.approx(y["actor/loss"], rel=1e-3, abs=1e-5)
    AutoModelForCausalLM.from_pretrained(tmp_path / "b" / "policy")
