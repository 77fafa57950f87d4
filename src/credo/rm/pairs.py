"""Gold preference pairs built from a task's rows, in the one pairwise format of :mod:`credo.rewards.pairs`."""

from __future__ import annotations

import random

from credo.rewards.pairs import Pair


def task_pairs(task, rows: list[dict], seed: int = 0) -> list[Pair]:
    """Gold pairs from a task's rows: chosen = the row's target (its gold answer), rejected = the target of another
    row with a different target (drawn with a seeded generator). Rows without a different target are skipped."""
    targets = [task.target(r) for r in rows]
    rng = random.Random(seed)
    out = []
    for r, t in zip(rows, targets):
        for _ in range(8):
            other = targets[rng.randrange(len(targets))]
            if other != t:
                out.append(Pair(task.prompt(r), t, other, "task"))
                break
    return out
