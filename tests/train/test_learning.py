"""GRPO learns through the real trainer path (engine → reward → advantage → update)."""

import torch

from credo.config import load_config
from credo.train.rl import RLTrainer

BASE = ["log.tensorboard=false", "log.progress=false", "eval.pass_k=0", "eval.every=0", "eval.size=4",
        "train.threads=1"]


def test_grpo_raises_a_dense_reward_from_scratch(tmp_path, monkeypatch):
    """From the random embedded model, 24 GRPO steps (lr 1e-3) lift the mean reward (share of 'a' in 8 sampled
    characters) from about 0.02 to above 0.3 (measured 0.72 after 27 steps)."""
    monkeypatch.syspath_prepend(__file__.rsplit("/", 1)[0])
    cfg = load_config(None, BASE + ["task.kind=callable", "task.name=learn_a_task:rows", "task.size=64",
                                    "task.eval_size=4", "sampling.max_new_tokens=8", "sampling.stop=[]",
                                    "train.lr=1e-3", f"log.output_dir={tmp_path}"])
    trainer = RLTrainer(cfg)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    rewards = [trainer.train_step()["reward/mean"] for _ in range(24)]
    assert sum(rewards[:3]) / 3 < 0.1
    assert sum(rewards[-3:]) / 3 > 0.3
    assert all(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
