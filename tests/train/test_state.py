"""Trainer state is safetensors + JSON: exact round trip, nothing unpickled, truncated files named."""

import math
import pickle
import random

import numpy as np
import pytest
import torch

from credo.config import load_config
from credo.train.checkpoint import rng_state
from credo.train.rl import RLTrainer
from credo.train.state import StateError, load_state, save_state

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "task.size=32", "task.eval_size=4", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4",
         "eval.size=4", "eval.pass_k=0", "sft.steps=0", "log.tensorboard=false", "log.progress=false"]


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_round_trip_is_exact(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    random.random()
    state = {
        "optimizer": opt.state_dict(),  # int keys, 0-d step tensors, tuple betas
        "rng": rng_state(),  # python: (3, tuple of 625 ints, None); numpy: ('MT19937', uint32[624], ...)
        "noise": np.random.default_rng(3).bit_generator.state,  # 128-bit ints
        "odd": {1: "int key", (1, 2): "tuple key", "$x": "dollar key", 2.5: None, None: [()]},
        "values": [float("nan"), float("inf"), -0.0, 1e-300, 2**100, np.float32(0.1), np.int64(-7)],
        "tensors": [torch.arange(6, dtype=torch.bfloat16).view(2, 3), torch.tensor(True), torch.zeros(0)],
        "arrays": (np.arange(5, dtype=np.uint32), np.ones((2, 2), dtype=np.float16)),
    }
    back = load_state(save_state(tmp_path / "s", state))
    assert _same(state, back)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "state.json", "state.numpy.safetensors", "state.safetensors"]
    opt2 = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])
    assert _same(opt2.state_dict(), opt.state_dict())


def test_unsupported_values_name_their_place(tmp_path):
    with pytest.raises(TypeError, match=r"state\.a\[1\] holds a set"):
        save_state(tmp_path, {"a": [1, {2}]})


def test_truncated_files_are_named(tmp_path):
    d = save_state(tmp_path / "s", {"w": torch.ones(100), "n": 1})
    data = (d / "state.safetensors").read_bytes()
    (d / "state.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(StateError, match=r"state\.safetensors: truncated"):
        load_state(d)
    d = save_state(tmp_path / "t", {"n": 1})
    (d / "state.json").write_text('{"format": 1, "sta')
    with pytest.raises(StateError, match=r"state\.json: truncated"):
        load_state(d)
    with pytest.raises(StateError, match="missing"):
        load_state(tmp_path / "nothing")


class Payload:
    """Unpickling this writes a file: the attack a pickled trainer.pt allows."""

    target = ""

    def __reduce__(self):
        return _touch, (self.target,)


def _touch(path):
    with open(path, "w") as f:
        f.write("pwned")


def test_a_crafted_pickle_checkpoint_runs_nothing(tmp_path, capsys):
    """Failure reproduced first: ``pickle.loads`` of the file does run the payload; credo refuses the file."""
    from credo.cli import main

    evidence = tmp_path / "evidence.txt"
    Payload.target = str(evidence)
    blob = pickle.dumps({"step": 1, "x": Payload()})
    pickle.loads(blob)  # what torch.load(weights_only=False) amounted to
    assert evidence.read_text() == "pwned"
    evidence.unlink()

    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "step_000001"
    (ckpt / "policy").mkdir(parents=True)
    (ckpt / "trainer.pt").write_bytes(blob)
    cfg = load_config(None, SMALL + ["train.steps=2", f"log.output_dir={run}"])
    with pytest.raises(StateError, match=r"trainer\.pt: checkpoint of an older credo version"):
        RLTrainer(cfg, resume=True)
    assert not evidence.exists()
    assert main(["train", "grpo", *SMALL, "train.steps=2", f"log.output_dir={run}", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trainer.pt" in err and "Traceback" not in err
    assert not evidence.exists()
