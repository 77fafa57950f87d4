"""Shared fixtures: a session-wide model cache so tests never touch ~/.cache or a hub."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


torch.set_num_threads(1)  # tiny models gain nothing from more threads, and one never oversubscribes shared cores


@pytest.fixture(scope="session", autouse=True)
def credo_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("credo-cache")
    old = os.environ.get("CREDO_CACHE")
    os.environ["CREDO_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CREDO_CACHE", None)
    else:
        os.environ["CREDO_CACHE"] = old


@pytest.fixture()
def tiny_policy():
    """(model, tokenizer) of a small embedded model (2 layers, hidden 64)."""
    from credo.config import ModelConfig
    from credo.models import load_policy

    torch.manual_seed(0)
    model, tok, _ = load_policy(ModelConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128))
    return model, tok


class Killed(Exception):
    """Raised by the patched ``save`` to simulate a run killed right after a checkpoint."""


@pytest.fixture()
def resume_check(tmp_path, monkeypatch):
    """``resume_check(trainer_cls, make_cfg, kill_at)``: run ``make_cfg(dir)`` straight through in ``tmp/a``; run it
    again in ``tmp/b``, killed right after the checkpoint of step ``kill_at``, then resume it; assert both runs logged
    identical metrics (timings aside). ``on_resume(trainer)`` may check the restored state before the resumed run."""
    from credo.train.checkpoint import list_checkpoints
    from credo.train.metrics import read_metrics

    def check(trainer_cls, make_cfg, kill_at: int = 2, on_resume=None):
        trainer_cls(make_cfg(tmp_path / "a")).run()
        cfg = make_cfg(tmp_path / "b")
        save = trainer_cls.save

        def save_then_die(self):
            out = save(self)
            if self.step == kill_at:
                raise Killed
            return out

        monkeypatch.setattr(trainer_cls, "save", save_then_die)
        with pytest.raises(Killed):
            trainer_cls(cfg).run()
        monkeypatch.setattr(trainer_cls, "save", save)
        assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [kill_at]
        resumed = trainer_cls(cfg, resume=True)
        assert resumed.step == kill_at
        if on_resume is not None:
            on_resume(resumed)
        resumed.run()

        def clean(run):
            drop = ("timing/", "perf/generated_tokens_per_s")
            return [{k: v for k, v in r.items() if not k.startswith(drop)} for r in read_metrics(run / "metrics.jsonl")]

        a, b = clean(tmp_path / "a"), clean(tmp_path / "b")
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x == y, {k: (x.get(k), y.get(k)) for k in x.keys() | y.keys() if x.get(k) != y.get(k)}
        return resumed

    return check
