"""Autoregressive reward model (ARM) run configuration: the conventions of ``credo.config`` (help on every field,
YAML recipe + dotted overrides, every key checked by ``credo.validate.validate``).

``load_arm_config("recipes/uniarm.yaml", ["train.steps=50"])`` mirrors ``credo.config.load_config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from credo.config import ModelConfig, load_config
from credo.config import option as _f

ADAPTERS = ("lora", "pblora", "moslora")


@dataclass
class ArmAdapterConfig:
    kind: str = _f("moslora", "lora (plain peft LoRA: one ARM per objective, GenARM) | pblora (PARM: core W1 + "
                   "λ-weighted W2(λ)) | moslora (UniARM, reconstructed: shared A/B + FiLM modulation from a mixed "
                   "preference vector)")
    target_modules: list = _f(["q_proj", "k_proj", "v_proj"], "names (suffixes) of the linear layers wrapped")
    r: int = _f(8, "lora / moslora rank")
    r1: int = _f(4, "pblora: rank of the preference-agnostic core W1")
    r2: int = _f(4, "pblora: rank of the preference block W2(λ)")
    alpha: float = _f(8.0, "scaling numerator: the update is scaled by alpha / r (pblora: alpha / r2)")
    dropout: float = _f(0.0, "dropout on the adapter input")
    modulation: str = _f("shared", "moslora: shared (one FiLM map M for every wrapped layer) | layer (one per layer)")
    conditioning: str = _f("embedding", "moslora: embedding (mixed vector Σλ_i o_i of the frozen model's embeddings "
                           "of the objective descriptions) | onehot (ablation: λ itself)")


@dataclass
class ArmDataConfig:
    source: str = _f("synthetic", "synthetic (the topic task of credo.arm.synthetic, exact objectives) | a JSONL "
                     "file of pairs {prompt, responses: [y0, y1], prefer: {objective: 0|1}}")
    objectives: list = _f(["help", "harmless"], "objective names (the keys of 'prefer'), in λ order")
    descriptions: list = _f(["helpful: stays on the topic of the prompt",
                             "harmless: avoids the risky letters of the topic"],
                            "one text per objective; moslora embeds it with the frozen base embeddings")
    objective: str = _f("", "lora only: the single objective this ARM learns (GenARM trains one ARM per objective)")
    size: int = _f(2000, "synthetic: training pairs")
    eval_size: int = _f(500, "synthetic: held-out pairs (a JSONL source holds out its last eval_size rows)")
    seed: int = _f(0, "synthetic: generator seed")
    label_temperature: float = _f(0.05, "synthetic: logistic label noise, P(y0 preferred) = σ(Δf / temperature)")
    length: int = _f(12, "synthetic: response length in characters")


@dataclass
class ArmTrainConfig:
    steps: int = _f(200, "optimizer steps")
    batch_size: int = _f(32, "pairs per step")
    lr: float = _f(5e-4, "AdamW learning rate")
    weight_decay: float = _f(0.05, "AdamW weight decay")
    warmup: int = _f(20, "linear warm-up steps of the cosine schedule")
    beta: float = _f(0.1, "β_r of the Bradley-Terry loss on summed response log-probabilities")
    lam_reg: float = _f(1.0, "weight of the global term L_glob (0 = ablation: per-objective terms only)")
    dirichlet: float = _f(0.5, "λ ~ Dirichlet(dirichlet · 1_k), one λ per batch (pblora / moslora)")
    grad_clip: float = _f(1.0, "gradient-norm clip (0 = off)")
    seed: int = _f(0, "seed of initialisation, batching and λ draws")
    threads: int = _f(0, "torch intra-op threads (0 = leave torch's default)")
    device: str = _f("auto", "auto (CUDA when available, else CPU) | cpu | cuda | cuda:N | mps")
    save_every: int = _f(0, "write checkpoints/step_N/ every this-many steps, for --resume (0 = only at the end)")
    keep_last: int = _f(2, "checkpoints/step_N/ kept on disk")


@dataclass
class ArmDecodeConfig:
    alpha: float = _f(1.0, "guidance strength α: logits = log π_base + α log π_arm(·|λ)")
    normalize: bool = _f(True, "GenARM temperature normalisation: divide the guided logits by 1 + Σα")
    base: str = _f("", "model guided at decoding time (empty = the ARM's own base; a larger model with the same "
                   "vocabulary = weak-to-strong)")
    max_new_tokens: int = _f(12, "generated tokens per response")
    temperature: float = _f(1.0, "sampling temperature applied after guidance")


@dataclass
class ArmEvalConfig:
    grid: int = _f(11, "λ grid points (>= 2; 0 = no λ-grid evaluation after training; needs data.source=synthetic)")
    prompts: int = _f(64, "prompts decoded per λ")
    samples: int = _f(2, "responses per prompt and λ")
    seed: int = _f(1, "decoding seed")


@dataclass
class ArmLogConfig:
    output_dir: str = _f("runs/uniarm", "run folder: metrics.jsonl, checkpoints/, arm/ (the trained ARM), eval")


@dataclass
class ArmConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    adapter: ArmAdapterConfig = field(default_factory=ArmAdapterConfig)
    data: ArmDataConfig = field(default_factory=ArmDataConfig)
    train: ArmTrainConfig = field(default_factory=ArmTrainConfig)
    decode: ArmDecodeConfig = field(default_factory=ArmDecodeConfig)
    eval: ArmEvalConfig = field(default_factory=ArmEvalConfig)
    log: ArmLogConfig = field(default_factory=ArmLogConfig)


def load_arm_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ArmConfig:
    """Defaults, then a YAML recipe, then ``a.b=value`` overrides; ``credo.validate.validate`` checks every key."""
    return load_config(path, overrides, schema=ArmConfig)
