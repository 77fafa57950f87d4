"""A user function as a Task: ``cfg.name = "package.module:function"``.

The function is called ``fn(split, size, seed, **cfg.kwargs)`` with ``split`` "train" (size ``cfg.size``) or "eval"
(size ``cfg.eval_size``) and returns rows: dicts with ``question`` (string) and ``answer`` (string or number; other
fields are kept). Rows beyond ``size`` are dropped, and train rows whose question text is held out are removed.
If the module also defines ``verify(row, answer_text) -> float | (float, dict)``, it scores the extracted answer (a
score outside [0, 1], NaN, inf, None, a string or an exception is a RewardError naming the task and row, never a
silent 0); otherwise the score is an exact string match with the gold answer. A module-level ``target(row) -> str``
gives the SFT demonstration of a row (default: the gold answer).
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
from collections.abc import Callable
from typing import Any

from credo.tasks.base import TASKS, BaseTask, TaskError, answer_str


def import_path(spec: str) -> tuple[Any, Callable[..., Any]]:
    """``"package.module:function"`` -> (module, function); TaskError naming the path on any failure.

    The module is looked up on ``sys.path`` with the current working directory first (a ``credo`` console script
    does not have it on ``sys.path`` otherwise), so ``mytask:rows`` finds ``./mytask.py``. Importing runs the module's
    code: only name modules you trust."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise TaskError(f"task.name {spec!r} must be an import path 'package.module:function'")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise TaskError(f"task.name {spec!r}: cannot import module {mod_name!r} (looked in {cwd} and on "
                        f"sys.path): {e}") from e
    except Exception as e:
        raise TaskError(f"task.name {spec!r}: importing module {mod_name!r} raised {e!r}") from e
    finally:
        if added:
            sys.path.remove(cwd)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise TaskError(f"task.name {spec!r}: module {mod_name!r} has no callable {attr!r}")
    return module, fn


class CallableTask(BaseTask):
    def __init__(self, cfg: Any):
        super().__init__(cfg, cfg.name)
        module, self._fn = import_path(cfg.name)
        hook = getattr(module, "verify", None)
        self._verify = hook if callable(hook) else None
        hook = getattr(module, "target", None)
        self._target = hook if callable(hook) else None
        self.user_scorer = self._verify is not None

    def _call(self, split: str, size: int) -> list[dict[str, Any]]:
        if size <= 0:
            return []
        try:
            out = self._fn(split, size, self.cfg.seed, **(self.cfg.kwargs or {}))
            out = list(itertools.islice(out, size))  # a generator may be endless
        except TaskError:
            raise
        except Exception as e:
            raise TaskError(f"{self.name}({split!r}, {size}, {self.cfg.seed}, **{self.cfg.kwargs}) raised {e!r}") from e
        rows = []
        for i, r in enumerate(out):
            where = f"{self.name} ({split} row {i})"
            if not isinstance(r, dict):
                raise TaskError(f"{where}: expected a dict, got {type(r).__name__}")
            for key in ("question", "answer"):
                if key not in r or r[key] is None:
                    raise TaskError(f"{where}: missing field {key!r} (fields: {sorted(r)})")
            if not isinstance(r["question"], str):
                raise TaskError(f"{where}: field 'question' must be a string, got {r['question']!r}")
            rows.append({**r, "answer": answer_str(r["answer"], where)})
        return rows

    def _make_splits(self):
        held = self._call("eval", self.cfg.eval_size)
        held_q = {r["question"] for r in held}
        train = [r for r in self._call("train", self.cfg.size) if r["question"] not in held_q]
        return train, held

    def target(self, row: dict[str, Any]) -> str:
        """The module's ``target(row)`` (the SFT demonstration) when it defines one, else the gold answer."""
        return self._target(row) if self._target is not None else super().target(row)

    def _score(self, row: dict[str, Any], extracted: str) -> Any:
        """The user's ``verify(row, answer_text)`` as it returned (BaseTask.verify checks it), or exact match."""
        if self._verify is None:
            return float(extracted == str(row["answer"]).strip())
        return self._verify(row, extracted)


@TASKS.register("callable")
def build_callable(cfg: Any) -> CallableTask:
    """``cfg.name = "module:function"`` generating rows, optionally scored by ``module.verify``."""
    return CallableTask(cfg)
