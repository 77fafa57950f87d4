"""``train.backend=fsdp`` in this process as a one-rank gloo group (the 2-rank checks are the slow tests of
test_data_parallel.py): the policy and the KL reference are sharded DTensors, generation sees full weights, a run
killed after a checkpoint resumes to the same metrics, and the checkpoint holds a plain transformers model."""

import json
import socket

import pytest
import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor
from transformers import AutoModelForCausalLM

from credo.config import load_config
from credo.distributed.fsdp import FsdpTrainer, masked_copy
from credo.trajectory import Trajectory

SMALL = ["train.steps=3", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=6",
         "model.hidden_size=32", "model.num_layers=2", "model.intermediate_size=64", "task.size=16", "task.eval_size=4",
         "eval.size=4", "eval.every=0", "eval.pass_k=0", "log.save_every=2", "log.progress=false",
         "log.tensorboard=false", "log.report=false", "train.device=cpu", "train.lr=0.01", "algo.kl_coef=0.05",
         "train.mini_batches=2", "train.micro_batch_size=3", "train.backend=fsdp"]


@pytest.fixture()
def one_rank(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(k, v)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_fsdp_run_on_one_rank_resumes_exactly(one_rank, resume_check, tmp_path):
    def check_sharded(trainer):
        assert all(isinstance(p, DTensor) for p in trainer.model.parameters())
        assert all(isinstance(p, DTensor) for p in trainer.learner.ref.parameters())
        assert all(isinstance(v, DTensor) for s in trainer.learner.opt.state.values() for k, v in s.items()
                   if k != "step")  # the AdamW moments came back from the checkpoint as shards

    resumed = resume_check(FsdpTrainer, lambda out: load_config(None, SMALL + [f"log.output_dir={out}"]),
                           on_resume=check_sharded)
    ckpt = tmp_path / "b" / "checkpoints" / "step_000003" / "policy"
    step3 = AutoModelForCausalLM.from_pretrained(ckpt)
    assert json.loads((ckpt / "config.json").read_text())["architectures"] == [type(step3).__name__]  # not FSDP...
    for (name, x), y in zip(step3.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(x, y.full_tensor()), name  # the checkpoint holds the full weights


def test_masked_copy_is_a_row_without_loss():
    t = Trajectory(prompt_ids=torch.tensor([1, 2]), response_ids=torch.tensor([3, 4, 5]), logprobs=torch.zeros(3),
                   loss_mask=torch.ones(3), versions=torch.zeros(3), info={"old_logprobs": torch.zeros(3)})
    c = masked_copy(t)
    assert float(c.loss_mask.sum()) == 0 and float(t.loss_mask.sum()) == 3
    c.info["x"] = 1
    assert "x" not in t.info and torch.equal(c.response_ids, t.response_ids)
