"""Where a model runs and in which precision: ``train.device`` and ``train.mixed_precision``.

A model owns its device; every tensor it consumes is created there (``device=model_device(model)``). Mixed precision
is autocast around forward passes: weights and optimizer state keep ``model.dtype`` (fp32 master weights), and fp16
adds a gradient scaler (see :class:`credo.train.learner.Learner`).
"""

from __future__ import annotations

import contextlib
import functools
import re

import torch

from credo.config import ConfigError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
PRECISIONS = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ATTENTION = ("sdpa", "eager", "flash_attention_2")


class DeviceError(ConfigError):
    """A device that does not exist on this machine (a config error: the CLI prints one line, exit 2)."""


def resolve_device(spec: str = "auto", key: str = "train.device") -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; ``cuda:N`` must exist; ``mps`` must be available. Errors
    name ``key``."""
    spec = (spec or "auto").strip()
    if not DEVICE_PATTERN.match(spec):
        raise DeviceError(f"{key}: {spec!r}; expected auto | cpu | cuda | cuda:N | mps")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{key}: {spec!r}; CUDA is not available here (use cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"{key}: {spec!r}; only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"{key}: {spec!r}; MPS is not available here")
    return dev


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def autocast(device: torch.device, mixed_precision: str = "no") -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``bf16`` / ``fp16`` on ``device``; a no-op context for ``no``."""
    dtype = PRECISIONS[mixed_precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def checkpointing(model: torch.nn.Module) -> bool:
    """Whether activation (gradient) checkpointing is on for ``model``."""
    flag = getattr(model, "is_activation_checkpointing", None)
    if flag is None:
        flag = getattr(model, "is_gradient_checkpointing", False)
    return bool(flag)


def enable_checkpointing(model: torch.nn.Module) -> None:
    """Turn on activation checkpointing (non-reentrant, so frozen inputs of LoRA models need no grad hooks)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:  # transformers < 5
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def on_host(fn):
    """Run ``fn`` with CPU as torch's default device: for host-side work (batch building, rollout records) whose
    tensors are moved to a model's device explicitly later."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.device("cpu"):
            return fn(*args, **kwargs)

    return wrapper
