"""The demo task: write a word backwards (``"reverse: kqmd"`` → ``"dmqk"``), scored by exact match.

Words are random lowercase strings of ``length`` letters (26^length of them, so held-out words are new words, not
memorised ones). ``teacher_accuracy`` < 1 makes the SFT warm start imitate a sloppy teacher: each training row's
demonstration (``target``) is the reversed word with that probability and the word copied unchanged otherwise. The
gold ``answer`` (what the verifier and every accuracy metric check) is always the reversed word; held-out rows have no
sloppy targets. Use as ``task.kind=callable task.name=credo.tasks.reverse:rows``.
"""

from __future__ import annotations

import random
import string
from typing import Any


def rows(split: str, size: int, seed: int, length: int = 4, teacher_accuracy: float = 1.0) -> list[dict[str, Any]]:
    """``size`` rows ``{"question", "answer", "target"}`` of ``split`` ("train" or "eval", seeded apart)."""
    if length < 2:
        raise ValueError(f"task.kwargs.length must be >= 2, got {length}")
    if not 0.0 <= teacher_accuracy <= 1.0:
        raise ValueError(f"task.kwargs.teacher_accuracy must be in [0, 1], got {teacher_accuracy}")
    rng = random.Random(f"{split}:{seed}")
    out = []
    for _ in range(size):
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
        right = split == "eval" or rng.random() < teacher_accuracy
        out.append({"question": word, "answer": word[::-1], "target": word[::-1] if right else word})
    return out


def target(row: dict[str, Any]) -> str:
    """The SFT demonstration of a row: the (possibly sloppy) teacher's answer."""
    return " " + row["target"]
