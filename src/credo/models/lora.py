"""LoRA adapters through peft: one base model, one adapter per trainable policy.

``model.lora.r > 0`` wraps the policy in a ``peft.PeftModel``. The KL reference is the same base with the adapter
disabled (no second copy of the weights). Several agents may hold adapters on one shared frozen base
(:func:`add_adapter` with their own names); each activates its adapter before generating or training.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from credo.config import LoraConfig

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base(path: str | Path) -> str:
    """The base model an adapter directory was trained on (``base_model_name_or_path``)."""
    return json.loads((Path(path) / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]


def peft_config(cfg: LoraConfig) -> Any:
    from peft import LoraConfig as PeftLoraConfig

    targets = cfg.target_modules
    targets = "all-linear" if targets == ["all-linear"] else list(targets)
    return PeftLoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=targets,
                          task_type="CAUSAL_LM")


def is_peft(model: torch.nn.Module) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def add_adapter(model: torch.nn.Module, cfg: LoraConfig, name: str = "default") -> torch.nn.Module:
    """A new trainable LoRA adapter ``name`` on ``model`` (wrapping it in a PeftModel the first time); the base
    weights are frozen. Returns the PeftModel."""
    from peft import get_peft_model

    if is_peft(model):
        model.add_adapter(name, peft_config(cfg))
        return model
    return get_peft_model(model, peft_config(cfg), adapter_name=name)


def load_adapter(model: torch.nn.Module, path: str | Path, name: str = "default") -> torch.nn.Module:
    """Load a saved adapter directory onto ``model`` (a base model or a PeftModel), trainable, as ``name``."""
    from peft import PeftModel

    if is_peft(model):
        model.load_adapter(str(path), adapter_name=name, is_trainable=True)
        return model
    return PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=True)


def adapter_parameters(model: torch.nn.Module, name: str) -> list[torch.nn.Parameter]:
    """The parameters of adapter ``name`` (what its optimizer trains)."""
    return [p for n, p in model.named_parameters() if "lora_" in n and f".{name}." in n]


def activate(model: torch.nn.Module, name: str | None) -> None:
    """Make adapter ``name`` the active one (no-op for a model without adapters)."""
    if name is not None and is_peft(model) and model.active_adapter != name:
        model.set_adapter(name)


def save_adapter(model: torch.nn.Module, out: Path, name: str = "default") -> None:
    """Write adapter ``name`` as a plain peft directory ``out`` (adapter_config.json + adapter_model.safetensors)."""
    model.save_pretrained(out, selected_adapters=[name], safe_serialization=True)
    nested = Path(out) / name
    if name != "default" and nested.is_dir():  # peft nests non-default adapters one folder down
        for f in nested.iterdir():
            shutil.move(str(f), Path(out) / f.name)
        nested.rmdir()


def merged_model(model: torch.nn.Module, name: str = "default") -> torch.nn.Module:
    """A plain transformers model with adapter ``name`` merged into a copy of the base weights."""
    import copy

    clone = copy.deepcopy(model)
    activate(clone, name)
    for other in [a for a in clone.peft_config if a != name]:
        clone.delete_adapter(other)
    return clone.merge_and_unload()
