"""Building, saving and loading an ARM: a frozen base LM (anything ``credo.models`` loads) with a lora / pblora /
moslora adapter. An ARM directory holds ``arm.json`` (kind, base model config, adapter config, objectives) and
``arm.safetensors`` (the trainable tensors only; the base is rebuilt from its config)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from credo.arm.adapters import Preference, trainable_parameters, wrap_model
from credo.arm.config import ArmAdapterConfig, ArmConfig
from credo.config import ConfigError, LoraConfig, ModelConfig, replace_from

ARM_JSON = "arm.json"
ARM_TENSORS = "arm.safetensors"


class ArmError(ConfigError):
    """A directory that is not a saved ARM, or ARMs that cannot guide the given model (reported in one line)."""


def objective_vectors(model: torch.nn.Module, tokenizer, descriptions: list[str]) -> torch.Tensor:
    """o_i = mean of the frozen input embeddings of description i's tokens: [k, hidden], on the model's device."""
    emb = model.get_input_embeddings()
    rows = []
    for text in descriptions:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ArmError(f"objective description {text!r} has no tokens")
        with torch.no_grad():
            rows.append(emb(torch.tensor(ids, device=emb.weight.device)).float().mean(0))
    return torch.stack(rows)


def attach_adapter(model: torch.nn.Module, tokenizer, adapter: ArmAdapterConfig, descriptions: list[str]
                   ) -> tuple[torch.nn.Module, Preference | None]:
    """Wrap ``model`` with the ARM adapter; returns (model — a PeftModel for lora —, the Preference or None)."""
    if adapter.kind == "lora":
        from credo.models.lora import add_adapter

        lora = LoraConfig(r=adapter.r, alpha=adapter.alpha, dropout=adapter.dropout,
                          target_modules=list(adapter.target_modules))
        return add_adapter(model, lora), None
    vectors = None
    if adapter.kind == "moslora" and adapter.conditioning == "embedding":
        vectors = objective_vectors(model, tokenizer, descriptions)
    pref = wrap_model(model, adapter.kind, list(adapter.target_modules), len(descriptions), r=adapter.r,
                      r1=adapter.r1, r2=adapter.r2, alpha=adapter.alpha, dropout=adapter.dropout,
                      modulation=adapter.modulation, objective_vectors=vectors)
    return model, pref


def build_arm(cfg: ArmConfig, device: torch.device | str = "cpu", model: Any = None, tokenizer: Any = None
              ) -> tuple[torch.nn.Module, Any]:
    """The base model of ``cfg.model`` (or the given object) with the ``cfg.adapter`` ARM attached, on ``device``."""
    from credo.models import load_causal_lm, load_tokenizer, resolve_model_dir

    if model is None:
        path = resolve_model_dir(cfg.model)
        model, tokenizer = load_causal_lm(path, cfg.model, device), load_tokenizer(path, cfg.model)
    elif tokenizer is None:
        raise ArmError("a model object needs its tokenizer (tokenizer=...)")
    else:
        model = model.to(device)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    model, _ = attach_adapter(model, tokenizer, cfg.adapter, list(cfg.data.descriptions))
    return model, tokenizer


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Name → tensor of every trainable parameter (what an ARM directory stores)."""
    return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    params = dict(model.named_parameters())
    want = {n for n, p in params.items() if p.requires_grad}
    if set(tensors) != want:
        missing, extra = sorted(want - set(tensors))[:3], sorted(set(tensors) - want)[:3]
        raise ArmError(f"{where}: adapter tensors do not match the rebuilt ARM (missing {missing}, unexpected "
                       f"{extra})")
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def save_arm(out: str | Path, model: torch.nn.Module, cfg: ArmConfig) -> Path:
    """Write the ARM directory ``out`` atomically (``arm.json`` + ``arm.safetensors``)."""
    from safetensors.torch import save_file

    from credo.train.checkpoint import write_dir_atomically

    meta = {"kind": cfg.adapter.kind, "model": dataclasses.asdict(cfg.model),
            "adapter": dataclasses.asdict(cfg.adapter), "objectives": list(cfg.data.objectives),
            "descriptions": list(cfg.data.descriptions), "objective": cfg.data.objective,
            "trainable_parameters": trainable_parameters(model)}

    def write(tmp: Path) -> None:
        save_file({n: t.to("cpu").contiguous() for n, t in trainable_state(model).items()}, str(tmp / ARM_TENSORS))
        (tmp / ARM_JSON).write_text(json.dumps(meta, indent=1), encoding="utf-8")

    return write_dir_atomically(Path(out), write)


def read_arm_meta(path: str | Path) -> dict:
    p = Path(path) / ARM_JSON
    if not p.is_file():
        raise ArmError(f"{Path(path)}: not an ARM directory (no {ARM_JSON}); train one with `credo arm train`")
    return json.loads(p.read_text(encoding="utf-8"))


def load_arm(path: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, Any, dict]:
    """(model in eval mode, tokenizer, arm.json) of a saved ARM directory."""
    from safetensors.torch import load_file

    from credo.train.state import check_safetensors

    meta = read_arm_meta(path)
    cfg = ArmConfig()
    cfg.model = replace_from(ModelConfig(), meta["model"], str(path))
    cfg.adapter = replace_from(ArmAdapterConfig(), meta["adapter"], str(path))
    cfg.data.objectives, cfg.data.descriptions = meta["objectives"], meta["descriptions"]
    model, tok = build_arm(cfg, device)
    check_safetensors(Path(path) / ARM_TENSORS)
    load_trainable(model, load_file(str(Path(path) / ARM_TENSORS)), str(path))
    model.eval()
    return model, tok, meta
