"""Every tensor a trainer consumes is created on its model's device, never on torch's default device.

The CPU suite cannot see a tensor created on the wrong accelerator, so these tests move torch's *default* device to
``meta`` while the models stay on CPU: any tensor built without an explicit device lands on ``meta`` and the step
fails (meta tensors hold no data). The trainers run their real call path: SFT, generation, reward, credit, update,
evaluation.
"""

import pytest
import torch

from credo.config import load_config
from credo.train.multi import build_trainer

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "task.size=32", "task.eval_size=8", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4",
        "sft.batch_size=4", "eval.size=4", "eval.pass_k=2", "log.tensorboard=false", "log.progress=false",
        "train.device=cpu", "train.steps=1"]


class DefaultDevice:
    """Within the block, tensors created without ``device=`` go to ``device``."""

    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        torch.set_default_device(self.device)

    def __exit__(self, *exc):
        torch.set_default_device(None)


def test_forcing_the_default_device_catches_an_implicit_tensor():
    with DefaultDevice("meta"), pytest.raises((NotImplementedError, RuntimeError)):
        float(torch.tensor([1.0]).sum())


@pytest.mark.parametrize("recipe,extra", [
    ("grpo", ["algo.kl_coef=0.1", "train.mini_batches=2", "sft.steps=2"]),
    ("gspo", ["algo.kl_coef=0.1", "train.gradient_checkpointing=true"]),
    ("dapo", []),
    ("cbs_intra", ["cbs.warmup_rounds=0"]),
    ("cbs_global", ["cbs.warmup_rounds=0", "cbs.explore=neural_ucb"]),
    ("ccpo_think_reason", []),
    ("ccpo_voting", []),
    ("dacr_are", []),
    ("hacpo", ["algo.kl_coef=0.1"]),
])
def test_a_training_step_creates_no_tensor_on_the_default_device(recipe, extra, tmp_path):
    cfg = load_config(f"src/credo/recipes/{recipe}.yaml", TINY + extra + [f"log.output_dir={tmp_path}"])
    sft_steps, cfg.sft.steps = cfg.sft.steps, 0
    trainer = build_trainer(cfg)
    with DefaultDevice("meta"):
        if sft_steps:
            cfg.sft.steps = sft_steps
            trainer.warm_start()
        metrics = trainer.train_step()
        evals = trainer.evaluate()
    assert all(v == v for v in metrics.values() if isinstance(v, float))  # no NaN
    assert evals and all(0.0 <= v <= 1.0 for k, v in evals.items() if "accuracy" in k)
