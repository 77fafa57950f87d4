"""Any reasoning-gym generator as a Task, scored by the dataset's own ``score_answer``.

Train rows come from seed ``cfg.seed`` and held-out rows from ``cfg.seed + EVAL_SEED_OFFSET`` (reasoning-gym seeds
item ``i`` with ``seed + i``, so nearby seeds would overlap). Held-out questions are de-duplicated, and every train row
whose question text is held out is dropped (and replaced by a later one), so tiny question spaces stay disjoint too.
Each row is ``{"question", "answer", "entry"}``; ``entry`` is the generator's item (JSON-serialisable for all 105
generators of reasoning-gym 0.1.25 that build with default settings), kept because ``score_answer`` needs it.
"""

from __future__ import annotations

import difflib
from typing import Any

from credo.tasks.base import TASKS, BaseTask, TaskError

EVAL_SEED_OFFSET = 1_000_000_000
_MAX_CHUNKS = 32  # generator chunks drawn at most while filling a split


class ReasoningGymTask(BaseTask):
    def __init__(self, cfg: Any):
        super().__init__(cfg, cfg.name)
        import reasoning_gym
        from reasoning_gym.factory import DATASETS

        if cfg.name not in DATASETS:
            close = difflib.get_close_matches(cfg.name, DATASETS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TaskError(f"unknown reasoning-gym dataset {cfg.name!r}{hint}")
        kwargs = dict(cfg.kwargs or {})
        for k in ("seed", "size"):
            if k in kwargs:
                raise TaskError(f"task.kwargs.{k} is set by credo; use task.{k} (and task.eval_size) instead")
        self._kwargs = kwargs
        self._create = reasoning_gym.create_dataset
        self._scorer = self._dataset(size=1, seed=cfg.seed)  # score_answer may read the dataset's config

    def _dataset(self, size: int, seed: int):
        try:
            return self._create(self.cfg.name, size=size, seed=seed, **self._kwargs)
        except (TypeError, ValueError, AssertionError) as e:
            raise TaskError(f"reasoning-gym {self.cfg.name!r} rejected kwargs {self._kwargs}: {e!r}") from e

    def _draw(self, n: int, seed: int, exclude: set[str], unique: bool) -> list[dict[str, Any]]:
        """The first ``n`` items of the seeded generator whose question is not in ``exclude`` (and, if ``unique``,
        not seen before). Filtering may need more items: further chunks continue at ``seed + k * chunk`` (the same
        item stream for generators seeded per index), until a whole chunk adds nothing new."""
        if n <= 0:
            return []
        chunk = n + len(exclude) + (n // 4 + 16 if unique else 0)
        out: list[dict[str, Any]] = []
        seen = set(exclude)
        for k in range(_MAX_CHUNKS):
            ds, before = self._dataset(size=chunk, seed=seed + k * chunk), len(out)
            for i in range(len(ds)):
                item = ds[i]
                q = item["question"]
                if q in seen:
                    continue
                if unique:
                    seen.add(q)
                out.append(item)
                if len(out) == n:
                    return out
            if len(out) == before:
                break
        raise TaskError(
            f"reasoning-gym {self.cfg.name!r} with {self._kwargs}: drew only {len(out)} of {n} rows (held-out "
            f"questions are unique and kept out of training); the question space is too small: raise its difficulty "
            f"or lower task.size / task.eval_size"
        )

    @staticmethod
    def _row(item: dict[str, Any]) -> dict[str, Any]:
        ans = item.get("answer")
        return {"question": item["question"], "answer": None if ans is None else str(ans), "entry": item}

    def _make_splits(self):
        held = self._draw(self.cfg.eval_size, self.cfg.seed + EVAL_SEED_OFFSET, set(), unique=True)
        train = self._draw(self.cfg.size, self.cfg.seed, {x["question"] for x in held}, unique=False)
        return [self._row(x) for x in train], [self._row(x) for x in held]

    def _score(self, row: dict[str, Any], extracted: str) -> float:
        entry = row.get("entry") or {"question": row["question"], "answer": row["answer"], "metadata": {}}
        return float(self._scorer.score_answer(answer=extracted, entry=entry))


@TASKS.register("reasoning_gym")
def build_reasoning_gym(cfg: Any) -> ReasoningGymTask:
    """``reasoning_gym.create_dataset(cfg.name, size=..., seed=..., **cfg.kwargs)`` as a Task."""
    return ReasoningGymTask(cfg)
