"""Trainer state on disk in a format that cannot carry code: tensors and arrays in safetensors, the rest in JSON.

``save_state(dir, obj)`` writes ``state.json`` (the structure), ``state.safetensors`` (every torch tensor in it) and,
when there are any, ``state.numpy.safetensors`` (numpy arrays); ``load_state(dir)`` rebuilds ``obj`` exactly.
Supported values: dicts (any keys of the supported scalar types: optimizer state dicts key their parameters by int),
lists, tuples, str, int, float (NaN/inf included), bool, None, numpy scalars, numpy arrays and torch tensors (read
back on CPU). Nothing is ever unpickled.

JSON encoding: a list is a JSON array; a dict whose keys are all strings not starting with ``$`` is a JSON object;
everything else is a one-key object tagged ``$dict`` (list of [key, value] pairs), ``$tuple``, ``$tensor`` /
``$ndarray`` (the name of the entry in the safetensors file) or ``$np`` ([dtype, value]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"
STATE_ARRAYS = "state.numpy.safetensors"  # numpy arrays keep their numpy dtype (uint32 RNG keys)
_FORMAT = 1


class StateError(ValueError):
    """A state directory that is missing, truncated or not written by :func:`save_state`."""


def _encode(obj: Any, tensors: dict[str, Any], where: str) -> Any:
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().to("cpu").contiguous().clone()
        return {"$tensor": name}
    if isinstance(obj, np.ndarray):
        name = f"t{len(tensors)}"
        tensors[name] = np.ascontiguousarray(obj).copy()
        return {"$ndarray": name}
    if isinstance(obj, np.generic):
        return {"$np": [obj.dtype.str, obj.item()]}
    if isinstance(obj, tuple):
        return {"$tuple": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in obj.items()}
        return {"$dict": [[_encode(k, tensors, where), _encode(v, tensors, f"{where}[{k!r}]")] for k, v in obj.items()]}
    raise TypeError(f"save_state: {where} holds a {type(obj).__name__}, which has no safe encoding "
                    "(supported: dict, list, tuple, str, int, float, bool, None, numpy, torch.Tensor)")


def _decode(obj: Any, tensors: dict[str, Any]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, v), = obj.items()
        if tag == "$tuple":
            return tuple(_decode(x, tensors) for x in v)
        if tag == "$dict":
            return {_hashable(_decode(k, tensors)): _decode(x, tensors) for k, x in v}
        if tag in ("$tensor", "$ndarray"):
            if v not in tensors:
                raise StateError(f"entry {v!r} is missing from {STATE_TENSORS}")
            return tensors[v]
        if tag == "$np":
            return np.dtype(v[0]).type(v[1])
    return {k: _decode(v, tensors) for k, v in obj.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list | tuple) else key


def check_safetensors(path: str | Path) -> None:
    """A ``StateError`` naming the first ``*.safetensors`` file in ``path`` (a file or a directory) that is truncated or
    has a malformed header; reads headers only."""
    path = Path(path)
    for f in sorted(path.glob("*.safetensors")) if path.is_dir() else [path]:
        size = f.stat().st_size
        try:
            with open(f, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                if size < 8 or 8 + n > size:
                    raise ValueError("header runs past the end of the file")
                header = json.loads(fh.read(n))
            end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise StateError(f"{f}: truncated or not a safetensors file ({e})") from e
        if 8 + n + end > size:
            raise StateError(f"{f}: truncated ({size} bytes, the header describes {8 + n + end})")


def save_state(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as ``path/state.json`` + ``path/state.safetensors`` (``path`` is created; files replaced).

    Callers that need the pair replaced atomically write into a temporary directory (see ``write_dir_atomically``).
    """
    from safetensors.numpy import save as np_save
    from safetensors.torch import save as torch_save

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Any] = {}
    tree = _encode(obj, tensors, "state")
    torch_part = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}
    np_part = {k: v for k, v in tensors.items() if not isinstance(v, torch.Tensor)}
    (path / STATE_TENSORS).write_bytes(torch_save(torch_part))
    if np_part:
        (path / STATE_ARRAYS).write_bytes(np_save(np_part))
    doc = {"format": _FORMAT, "state": tree}
    (path / STATE_JSON).write_text(json.dumps(doc, allow_nan=True, separators=(",", ":")), encoding="utf-8")
    return path


def load_state(path: str | Path) -> Any:
    """The object saved by :func:`save_state` in ``path``; a :class:`StateError` names the file that is missing,
    truncated or malformed."""
    from safetensors.numpy import load_file as np_load
    from safetensors.torch import load_file as torch_load

    path = Path(path)
    meta = path / STATE_JSON
    if not meta.is_file():
        raise StateError(f"{meta}: missing (not a credo state directory)")
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise StateError(f"{meta}: truncated or not valid JSON ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or "state" not in doc:
        raise StateError(f"{meta}: not a credo state file (format {_FORMAT} expected)")
    tensors: dict[str, Any] = {}
    for name, load in ((STATE_TENSORS, torch_load), (STATE_ARRAYS, np_load)):
        f = path / name
        if not f.is_file():
            continue
        try:
            tensors.update(load(str(f)))
        except Exception as e:  # safetensors raises its own SafetensorError on truncated files
            raise StateError(f"{f}: truncated or not a safetensors file ({e})") from e
    try:
        return _decode(doc["state"], tensors)
    except StateError as e:
        raise StateError(f"{path}: {e}") from e
    except (TypeError, ValueError, KeyError) as e:
        raise StateError(f"{meta}: malformed state ({e!r})") from e
