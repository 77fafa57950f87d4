"""Preference pairs read from JSONL: one object per line with ``prompt``, ``chosen``, ``rejected`` (strings) and an
optional ``source``.

The field names are the ones of the pairwise format shared with the rubric reward model
(``credo.rewards.pairs``); this reader keeps its own copy so that both can be unified in one place later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("prompt", "chosen", "rejected")


class PairsError(ValueError):
    """A pairs file that is missing or has a bad row (the message names the file and line)."""


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    source: str = ""


def read_pairs(path: str | Path) -> list[PreferencePair]:
    """All pairs of a JSONL file; a :class:`PairsError` names the file and line of the first bad row."""
    p = Path(path)
    if not p.is_file():
        raise PairsError(f"{p}: pairs file not found")
    out = []
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise PairsError(f"{p}:{i}: not valid JSON ({e})") from e
        if not isinstance(row, dict):
            raise PairsError(f"{p}:{i}: a pair is a JSON object, got {type(row).__name__}")
        for k in FIELDS:
            if not isinstance(row.get(k), str):
                raise PairsError(f"{p}:{i}: field {k!r} must be a string, got {row.get(k)!r}")
        source = row.get("source", "")
        if not isinstance(source, str):
            raise PairsError(f"{p}:{i}: field 'source' must be a string, got {source!r}")
        out.append(PreferencePair(row["prompt"], row["chosen"], row["rejected"], source))
    if not out:
        raise PairsError(f"{p}: no pairs")
    return out


def task_pairs(task, rows: list[dict], seed: int = 0) -> list[PreferencePair]:
    """Gold pairs from a task's rows: chosen = the row's target (its gold answer), rejected = the target of another
    row with a different target (drawn with a seeded generator). Rows without a different target are skipped."""
    import random

    targets = [task.target(r) for r in rows]
    rng = random.Random(seed)
    out = []
    for r, t in zip(rows, targets):
        for _ in range(8):
            other = targets[rng.randrange(len(targets))]
            if other != t:
                out.append(PreferencePair(task.prompt(r), t, other, "task"))
                break
    return out


def write_pairs(path: str | Path, pairs: list[PreferencePair]) -> Path:
    """Write pairs as JSONL (``source`` only when set)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": x.prompt, "chosen": x.chosen, "rejected": x.rejected} | ({"source": x.source} if x.source
                                                                                 else {}) for x in pairs]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p
