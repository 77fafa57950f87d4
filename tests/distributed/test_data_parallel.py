"""Data-parallel training on 2 gloo ranks (CPU) equals one process: same gradients, same update, exact resume."""

import copy
import json
import socket

import pytest
import torch
import torch.multiprocessing as mp
from dp_worker import CASES, one_update, train_ranks, update_batch, update_ranks  # noqa: I001  (spawned ranks import it too)
from transformers import AutoModelForCausalLM

from credo.config import load_config
from credo.distributed.data_parallel import contiguous_shard
from credo.train.learner import Learner
from credo.train.metrics import read_metrics


def test_contiguous_shard_covers_every_row_once():
    rows = list(range(7))
    parts = [contiguous_shard(rows, r, 3) for r in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]]
    assert contiguous_shard([1], 1, 2) == []


@pytest.mark.slow  # two spawned ranks import torch and transformers: ~35 s on a shared 2-core machine
@pytest.mark.parametrize("backend", ["ddp", "fsdp"])
def test_two_gloo_ranks_give_the_one_process_update(tiny_policy, tmp_path, backend):
    model, tok = tiny_policy
    trajs = update_batch(model, tok)
    torch.save({"model": model, "pad_id": tok.pad_token_id, "trajs": trajs}, tmp_path / "setup.pt")
    mp.spawn(update_ranks, args=(2, str(tmp_path / "store"), str(tmp_path / "setup.pt"), str(tmp_path / "dp.pt"),
                                 backend), nprocs=2, join=True)
    ranks = torch.load(tmp_path / "dp.pt", weights_only=False)
    before = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
    for (algo, train), (dp_grads, dp_weights, dp_metrics) in zip(CASES, ranks):
        grads, weights, metrics = one_update(Learner, copy.deepcopy(model), tok.pad_token_id, copy.deepcopy(trajs),
                                             algo, dict(train, micro_batch_size=0))
        assert len(grads) == len(dp_grads) == len(weights) == len(dp_weights) == train["mini_batches"]
        for k, (g, h) in enumerate(zip(grads, dp_grads)):
            assert float(g.abs().max()) > 1e-4  # a real gradient
            # step 1 starts from equal weights: equal to float rounding; a later step starts from weights that Adam
            # moved by ~lr where a gradient was ~0 and its rounding noise decided the sign (see below)
            assert float((g - h).abs().max()) < (1e-6 if k == 0 else 1e-4) * float(g.abs().max()), (algo, k)
        assert float((weights[-1] - before).abs().max()) > 1e-4  # the update moved the weights
        # Adam's first step is lr * g / (|g| + eps): where a gradient is ~0 (1e-9), its rounding noise decides the
        # sign of a step of size ~lr, so weights are compared where the gradient is a real signal (|g| > 1e-5).
        real = grads[0].abs() > 1e-5
        first = float((weights[0] - dp_weights[0])[real].abs().max())
        last = float((weights[-1] - dp_weights[-1])[real].abs().max())
        dgrad = max(float((g - h).abs().max()) for g, h in zip(grads, dp_grads))
        print(f"{backend} {algo} {train}: max |dgrad| {dgrad:.2e}, max |dweight| after step 1 {first:.2e}, "
              f"after the update {last:.2e} "
              f"(all weights: {float((weights[-1] - dp_weights[-1]).abs().max()):.2e})")
        assert first < 1e-6, algo  # 1e-4 of a step (lr = 1e-2)
        # a second Adam step starts from weights that differ (above) and divides m by sqrt(v), which amplifies the
        # step-2 gradient difference where g1 and g2 nearly cancel: 3e-3 of a step
        assert last < 3e-5, algo
        for k in ("actor/loss", "actor/entropy", "actor/grad_norm", "actor/clipfrac"):
            assert metrics[k] == pytest.approx(dp_metrics[k], rel=1e-5, abs=1e-7), k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["ddp", "fsdp"])
def test_data_parallel_trainer_resumes_exactly(tmp_path, backend):
    overrides = ["train.steps=3", "train.prompts_per_step=4", "sampling.n=4", "sampling.max_new_tokens=6",
                 "model.hidden_size=32", "model.num_layers=1", "model.intermediate_size=64", "task.size=32",
                 "task.eval_size=4", "eval.size=4", "eval.every=0", "eval.pass_k=0", "log.save_every=1",
                 "log.progress=false", "log.tensorboard=false", "log.report=false", "train.threads=1",
                 "train.device=cpu", "train.lr=0.01", "algo.kl_coef=0.05"]
    mp.spawn(train_ranks, args=(2, _free_port(), overrides, str(tmp_path), 2, backend), nprocs=2, join=True)

    def clean(run):
        return [{k: v for k, v in r.items() if not k.startswith(("timing/", "perf/generated_tokens_per_s"))}
                for r in read_metrics(run / "metrics.jsonl")]

    for run in ("", ".rank1"):
        a, b = clean(tmp_path / f"a{run}"), clean(tmp_path / f"b{run}")
        assert len(a) == len(b) == 5  # eval at 0, three steps, eval at the end
        assert a == b
    assert clean(tmp_path / "a")[1]["actor/loss"] == clean(tmp_path / "a.rank1")[1]["actor/loss"]
    assert load_config(None, [f"train.backend={backend}"]).train.backend == backend
    # weights: written once, by rank 0, as a plain transformers model (FSDP gathers them), equal after the resume
    exported = [AutoModelForCausalLM.from_pretrained(tmp_path / run / "policy") for run in ("a", "b")]
    assert type(exported[0]).__name__ == json.loads((tmp_path / "a/policy/config.json").read_text())["architectures"][0]
    for (name, x), y in zip(exported[0].state_dict().items(), exported[1].state_dict().values()):
        assert torch.equal(x, y), name
    step3 = AutoModelForCausalLM.from_pretrained(tmp_path / "b/checkpoints/step_000003/policy")
    assert all(torch.equal(x, y) for x, y in zip(step3.state_dict().values(), exported[1].state_dict().values()))
    assert not list((tmp_path / "a.rank1").glob("checkpoints/*/policy/*.safetensors"))

