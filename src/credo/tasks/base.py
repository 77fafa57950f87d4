"""The Task interface: rows → prompt text, a verifier → score in [0, 1] with details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from credo.registry import Registry


class TaskError(ValueError):
    """Bad task input: names the file and line (or row) at fault."""


@dataclass
class Verdict:
    score: float  # in [0, 1]
    details: dict[str, Any] = field(default_factory=dict)  # e.g. {"extracted": "12", "gold": "12"}


class Task(Protocol):
    """A verifiable task with a fixed train / held-out split.

    ``rows(split)`` returns the split's rows (dicts with at least ``question`` and ``answer``), deterministic for a
    seed, the splits disjoint. ``prompt(row)`` is the text shown to the model (before any chat template),
    ``target(row)`` the response text SFT trains on, ``verify(row, response)`` scores a response.
    """

    name: str

    def rows(self, split: str) -> list[dict[str, Any]]: ...

    def prompt(self, row: dict[str, Any]) -> str: ...

    def target(self, row: dict[str, Any]) -> str: ...

    def verify(self, row: dict[str, Any], response: str) -> Verdict: ...


# build(cfg: credo.config.TaskConfig) -> Task
TASKS = Registry("task", "build(cfg: TaskConfig) -> Task")
