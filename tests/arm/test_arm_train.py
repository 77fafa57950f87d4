"""ARM training end to end: learning happens, resume is exact, the saved ARM reloads, bad input is named."""

import json

import numpy as np
import pytest
import torch

from credo.arm.config import ArmConfig, load_arm_config
from credo.config import ConfigError
from credo.validate import validate

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "data.size=256", "data.eval_size=128", "data.length=8", "train.batch_size=16", "train.warmup=2",
        "train.lr=5e-3", "train.device=cpu", "eval.grid=0"]


def cfg_for(tmp_path, kind="moslora", steps=40, extra=()):
    over = TINY + [f"adapter.kind={kind}", f"train.steps={steps}", f"log.output_dir={tmp_path}"]
    if kind == "lora":
        over.append("data.objective=help")
    return load_arm_config("recipes/uniarm.yaml", over + list(extra))


def letter_pairs(n, seed):
    """Pairs whose labels conflict: help prefers more of a–e, harmless fewer of d–h (ties dropped)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = ["".join(rng.choice(list("abcdefghijklmnop"), 8)) for _ in range(2)]
        h, u = ([sum(c in s for c in r) for r in y] for s in ("abcde", "defgh"))
        if h[0] != h[1] and u[0] != u[1]:
            out.append({"prompt": "topic A:", "responses": y,
                        "prefer": {"help": int(h[1] > h[0]), "harmless": int(u[1] < u[0])}})
    return out


@pytest.mark.parametrize("kind", ["moslora", "pblora", "lora"])
def test_training_learns_the_preferences(tmp_path, kind):
    from credo.arm.train import train_arm

    rows = (letter_pairs(600, 0), letter_pairs(200, 1))
    extra = ["data.source=pairs", "train.beta=1.0", "train.lr=1e-2"]
    _, _, before = train_arm(cfg_for(tmp_path / "0", kind, steps=0, extra=extra), rows=rows)
    _, _, after = train_arm(cfg_for(tmp_path / "1", kind, extra=extra), rows=rows)
    assert after["trainable_parameters"] > 0
    # one ARM must follow both conflicting objectives when λ is one-hot on each (GenARM's lora: its own objective)
    for name in ("help",) if kind == "lora" else ("help", "harmless"):
        key = f"eval/accuracy_{name}"
        assert after[key] > max(0.65, before[key] + 0.1), (before, after)
    assert (tmp_path / "1" / "arm" / "arm.json").is_file()


def test_resume_is_exact(tmp_path, monkeypatch):
    import credo.arm.train as tr
    from credo.train.metrics import read_metrics

    def metrics(run):
        return [{k: v for k, v in r.items() if k != "step_seconds"} for r in read_metrics(run / "metrics.jsonl")]

    tr.train_arm(cfg_for(tmp_path / "a", steps=6, extra=["train.save_every=3", "adapter.dropout=0.1"]))
    save = tr.save_checkpoint

    class Killed(Exception):
        pass

    def save_then_die(run, step, *a, **kw):
        out = save(run, step, *a, **kw)
        if step == 3:
            raise Killed
        return out

    monkeypatch.setattr(tr, "save_checkpoint", save_then_die)
    cfg = cfg_for(tmp_path / "b", steps=6, extra=["train.save_every=3", "adapter.dropout=0.1"])
    with pytest.raises(Killed):
        tr.train_arm(cfg)
    monkeypatch.setattr(tr, "save_checkpoint", save)
    tr.train_arm(cfg, resume=True)
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    from safetensors.torch import load_file

    a, b = (load_file(str(tmp_path / r / "arm" / "arm.safetensors")) for r in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_saved_arm_reloads_with_the_same_outputs(tmp_path):
    from credo.arm.adapters import set_preference
    from credo.arm.loss import sequence_logprobs
    from credo.arm.model import load_arm
    from credo.arm.train import train_arm

    model, tok, _ = train_arm(cfg_for(tmp_path, steps=3))
    model.eval()
    loaded, _, meta = load_arm(tmp_path / "arm")
    assert meta["kind"] == "moslora" and meta["objectives"] == ["help", "harmless"]
    for arm in (model, loaded):
        set_preference(arm, [0.2, 0.8])
    args = ([[1, 50, 51]], [[60, 61]], tok.pad_token_id)
    assert sequence_logprobs(model, *args).item() == pytest.approx(sequence_logprobs(loaded, *args).item(), abs=1e-5)


def test_bad_config_and_pairs_are_named(tmp_path):
    from credo.arm.data import read_pairs

    cfg = ArmConfig()
    cfg.adapter.kind = "lora"
    with pytest.raises(ConfigError, match="data.objective"):
        validate(cfg)
    cfg = ArmConfig()
    cfg.data.descriptions = ["only one"]
    with pytest.raises(ConfigError, match="data.descriptions"):
        validate(cfg)
    p = tmp_path / "pairs.jsonl"
    p.write_text(json.dumps({"prompt": "x", "responses": ["a", "b"], "prefer": {"help": 0, "harmless": 1}}) + "\n"
                 + json.dumps({"prompt": "x", "responses": ["a", "b"], "prefer": {"help": 2}}) + "\n")
    with pytest.raises(ConfigError, match=r"pairs.jsonl:2: prefer\['help'\]"):
        read_pairs(p, ["help", "harmless"])
