"""Atomic checkpoints: ``<run>/checkpoints/step_000010/{policy/, trainer/}``, keep-last-k, exact resume.

A checkpoint is written into a hidden temp directory and renamed into place, so a killed process leaves either the
previous checkpoint or the new one, never half of one. ``policy/`` is a plain Hugging Face directory; ``trainer/`` is
the trainer state (optimizer, scheduler, RNG, data cursor, ...) written by :func:`credo.train.state.save_state`:
safetensors + JSON, which cannot carry code. Checkpoints of older versions (a pickled ``trainer.pt``) are refused,
never unpickled.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from credo.train.rundir import respect_umask
from credo.train.state import STATE_JSON, StateError, load_state, save_state

_STEP = re.compile(r"^step_(\d+)$")
TRAINER_STATE = "trainer"
LEGACY_STATE = "trainer.pt"


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP.match(p.name))]
    return sorted((step, p) for step, p in found
                  if (p / TRAINER_STATE / STATE_JSON).is_file() or (p / LEGACY_STATE).is_file())


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def write_dir_atomically(final: Path, write: Callable[[Path], Any]) -> Path:
    """Run ``write(tmp)`` on a hidden sibling temp directory, then rename it to ``final`` (replacing an existing one).

    A process killed inside ``write`` leaves ``final`` as it was; the temp directory is removed on any error.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        respect_umask(tmp)
        write(tmp)
        if final.exists():  # re-saving the same step (e.g. after a resume) replaces it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def save_hf_dir(path: Path, model: Any, tokenizer: Any = None) -> Path:
    """``model`` (and ``tokenizer``) as a plain Hugging Face directory at ``path``, written atomically."""

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)

    return write_dir_atomically(path, write)


def export_policy(path: Path, model: Any, tokenizer: Any, merged: bool = False, adapter: str = "default") -> Path:
    """A trained policy as a deployable directory: the full model, or for LoRA the adapter (+ tokenizer) and, with
    ``merged``, the merged plain-transformers model in ``path/merged``. Written atomically."""
    from credo.models.lora import is_peft, merged_model, save_adapter

    if not is_peft(model):
        return save_hf_dir(path, model, tokenizer)

    def write(tmp: Path) -> None:
        save_adapter(model, tmp, adapter)
        tokenizer.save_pretrained(tmp)
        if merged:
            merged_model(model, adapter).save_pretrained(tmp / "merged", safe_serialization=True)
            tokenizer.save_pretrained(tmp / "merged")

    return write_dir_atomically(path, write)


def save_checkpoint(run_dir: Path, step: int, models: dict[str, Any], tokenizers: dict[str, Any],
                    state: dict[str, Any], keep_last: int = 2) -> Path:
    """Write ``models[name]`` (HF ``save_pretrained``) and ``state`` (``save_state``) for ``step``; prune old ones.

    ``models``/``tokenizers`` map an agent name to its policy; a single-agent run uses ``{"policy": model}``.
    """
    final = Path(run_dir) / "checkpoints" / f"step_{step:06d}"

    def write(tmp: Path) -> None:
        for name, model in models.items():
            model.save_pretrained(tmp / name, safe_serialization=True)
            if tokenizers.get(name) is not None:
                tokenizers[name].save_pretrained(tmp / name)
        save_state(tmp / TRAINER_STATE, {**state, "step": step, "rng": rng_state()})

    write_dir_atomically(final, write)
    for _, old in list_checkpoints(run_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint_state(ckpt: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint (RNG states are restored by the caller with ``set_rng_state``).

    A ``StateError`` names the file when the state is missing, truncated, or a pickled ``trainer.pt`` of an older
    version (refused without reading it: a pickle can run code)."""
    ckpt = Path(ckpt)
    if not (ckpt / TRAINER_STATE / STATE_JSON).is_file() and (ckpt / LEGACY_STATE).is_file():
        raise StateError(f"{ckpt / LEGACY_STATE}: checkpoint of an older credo version (pickle), refused because "
                         "loading a pickle can run code; start over with --overwrite")
    return load_state(ckpt / TRAINER_STATE)
