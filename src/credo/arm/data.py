"""Preference pairs with per-objective labels: JSONL rows ``{"prompt": str, "responses": [y0, y1],
"prefer": {objective: 0 | 1}}`` (``prefer[o] = 0`` ⇔ objective o prefers y0), and their token encoding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from credo.config import ConfigError


@dataclass
class EncodedPairs:
    """Token ids of N pairs and their labels z [N, k] (float, 0 ⇔ y0 preferred)."""

    prompts: list[list[int]]
    y0: list[list[int]]
    y1: list[list[int]]
    z: torch.Tensor

    def __len__(self) -> int:
        return len(self.prompts)

    def select(self, idx: list[int]) -> EncodedPairs:
        return EncodedPairs([self.prompts[i] for i in idx], [self.y0[i] for i in idx], [self.y1[i] for i in idx],
                            self.z[idx])


def check_pair(row: object, objectives: list[str], where: str) -> dict:
    """``row`` unchanged, or a one-line ConfigError naming ``where`` and what is wrong."""
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: a pair is a JSON object, got {type(row).__name__}")
    if not isinstance(row.get("prompt"), str):
        raise ConfigError(f"{where}: 'prompt' must be a string")
    r = row.get("responses")
    if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) and x for x in r)):
        raise ConfigError(f"{where}: 'responses' must be a list of two non-empty strings [y0, y1]")
    prefer = row.get("prefer")
    if not isinstance(prefer, dict):
        raise ConfigError(f"{where}: 'prefer' must map each objective to 0 (y0 preferred) or 1")
    for o in objectives:
        if prefer.get(o) not in (0, 1):
            raise ConfigError(f"{where}: prefer[{o!r}] must be 0 or 1, got {prefer.get(o)!r}")
    return row


def read_pairs(path: str | Path, objectives: list[str]) -> list[dict]:
    """Every row of a JSONL pairs file, checked (errors name the file and line)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"data.source: {p} not found (synthetic or a JSONL file of pairs)")
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise ConfigError(f"{p}:{n}: not valid JSON ({e})") from e
        rows.append(check_pair(row, objectives, f"{p}:{n}"))
    if not rows:
        raise ConfigError(f"{p}: no pairs")
    return rows


def encode_pairs(tokenizer, rows: list[dict], objectives: list[str], chat_template: bool = False) -> EncodedPairs:
    """Tokenise prompts (through the chat template when asked) and responses (no special tokens)."""
    from credo.models import encode_prompt

    prompts, y0, y1 = [], [], []
    for row in rows:
        prompts.append(encode_prompt(tokenizer, row["prompt"], chat_template))
        a, b = (tokenizer(y, add_special_tokens=False)["input_ids"] for y in row["responses"])
        y0.append(a)
        y1.append(b)
    z = torch.tensor([[float(row["prefer"][o]) for o in objectives] for row in rows], dtype=torch.float32)
    return EncodedPairs(prompts, y0, y1, z)
