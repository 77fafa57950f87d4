"""Autoregressive reward models for multi-objective guided decoding: GenARM (one LoRA ARM per objective), PARM
(PBLoRA) and UniARM (MoSLoRA, reconstructed: see docs/uniarm.md).

Train with :func:`credo.arm.train.train_arm` (``credo arm train``, ``credo.ArmTrainer``); guide any model whose
engine takes logits processors with :func:`build_processor`; evaluate a λ grid with :mod:`credo.arm.evaluate`.
"""

from credo.arm.adapters import MoSLoRALinear, PBLoRALinear, Preference, set_preference, trainable_parameters
from credo.arm.generate import build_processor, parse_pref
from credo.arm.guide import GuidedLogits, GuideTerm
from credo.arm.metrics import hypervolume, lambda_grid, mip, monotonicity

__all__ = ["GuideTerm", "GuidedLogits", "MoSLoRALinear", "PBLoRALinear", "Preference", "build_processor",
           "hypervolume", "lambda_grid", "mip", "monotonicity", "parse_pref", "set_preference",
           "trainable_parameters"]
