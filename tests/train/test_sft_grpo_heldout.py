"""End to end: after an SFT warm start, a short GRPO run raises held-out accuracy (3 seeds).

Task: reasoning-gym ``complex_arithmetic`` with ``+`` only and real/imaginary parts in 1..5 (625 questions; 100 are
held out, training rows come from the other 525). The embedded tiny model (hidden 128, 4 layers) is SFT-warmed inside
``RLTrainer`` (300 steps, batch 32, lr 3e-3), then trained with GRPO through ``RLTrainer.train_step`` (100 steps,
16 prompts x 8 samples, lr 3e-4 with 20 warm-up steps, AdamW betas (0.9, 0.99)).

The measured quantity is held-out accuracy of the sampling policy, ``eval/sampled_accuracy``: pass@1 at the
sampling temperature 1.0, the share of exact answers among 4 samples of each of the 100 held-out prompts (400
samples). Measured (experiments/sft_grpo/results.md, session 2; shared 2-core machine, 1 thread):

    seed 0: 0.098 -> 0.260 (+0.163)      greedy 0.48 -> 0.38
    seed 1: 0.115 -> 0.170 (+0.055)      greedy 0.42 -> 0.33
    seed 2: 0.010 -> 0.135 (+0.125)      greedy 0.02 -> 0.21
    mean gain +0.114; the training reward rises 0.15-0.30 -> 0.31-0.47 in every seed.

Greedy held-out accuracy is *not* asserted: when SFT already lands mid-way (0.4-0.5, seeds 0-1) GRPO leaves the
greedy answer wandering by +-0.1 around the SFT value (settings tried before this one, all without a reliable greedy
gain, are listed in results.md). The asserted margin is about half the measured mean gain.

Runtime: 13 min wall (9 min CPU) measured on a shared 2-core machine, 1 thread (per seed ~2 min SFT, ~2 min GRPO
and evaluation), hence ``slow``.
"""

import pytest

from credo.config import load_config
from credo.train.rl import RLTrainer

SETTINGS = [
    "log.tensorboard=false", "log.progress=false", "log.report=false", "train.threads=1",
    "task.kind=reasoning_gym", "task.name=complex_arithmetic",
    'task.kwargs={"min_real": 1, "max_real": 5, "min_imag": 1, "max_imag": 5, "operations": ["+"], '
    '"operations_weights": [1.0]}',
    "task.size=2000", "task.eval_size=100", "eval.size=100", "eval.pass_k=4", "eval.every=0",
    "sft.steps=300", "sft.batch_size=32", "sft.lr=3e-3",
    "sampling.n=8", "sampling.temperature=1.0", "sampling.max_new_tokens=16",
    "algo.advantage=grpo", "algo.policy_loss=ppo_clip",
    "train.steps=100", "train.prompts_per_step=16", "train.lr=3e-4", "train.warmup_steps=20",
    "train.betas=[0.9, 0.99]",
]
SEEDS = (0, 1, 2)
MARGIN = 0.05  # measured mean gain 0.114 (per seed 0.163, 0.055, 0.125)


def held_out_gain(seed: int, out_dir) -> tuple[float, float, dict]:
    cfg = load_config(None, SETTINGS + [f"train.seed={seed}", f"task.seed={seed}", f"log.output_dir={out_dir}"])
    trainer = RLTrainer(cfg)  # SFT warm start happens here
    before = trainer.evaluate()
    rewards = [trainer.train_step()["reward/mean"] for _ in range(cfg.train.steps)]
    after = trainer.evaluate()
    info = {"greedy": (before["eval/accuracy"], after["eval/accuracy"]),
            "reward": (sum(rewards[:20]) / 20, sum(rewards[-20:]) / 20)}
    return before["eval/sampled_accuracy"], after["eval/sampled_accuracy"], info


@pytest.mark.slow
def test_grpo_after_sft_raises_held_out_accuracy(tmp_path):
    gains, log = [], []
    for seed in SEEDS:
        before, after, info = held_out_gain(seed, tmp_path / f"seed{seed}")
        gains.append(after - before)
        log.append(f"seed {seed}: sampled {before:.3f} -> {after:.3f}, greedy {info['greedy'][0]:.2f} -> "
                   f"{info['greedy'][1]:.2f}, reward {info['reward'][0]:.3f} -> {info['reward'][1]:.3f}")
    print("\n".join(log))
    mean = sum(gains) / len(gains)
    assert mean > MARGIN, f"mean held-out gain {mean:.3f} <= {MARGIN}\n" + "\n".join(log)
    assert sum(g > 0 for g in gains) >= 2, "held-out accuracy rose in fewer than 2 of 3 seeds\n" + "\n".join(log)
