"""The Task interface: rows → prompt text, a verifier → score in [0, 1] with details."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Protocol

from credo.registry import Registry
from credo.tasks.extract import EXTRACTORS, marker_answer


class TaskError(ValueError):
    """Bad task input: names the file and line (or row) at fault."""


class RewardError(TaskError):
    """A verifier or reward function that raised or returned something other than a finite number; names the
    function (or task) and the row."""


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


# --- helpers shared by the built-in tasks ------------------------------------------------------------------------

SPLITS = ("train", "eval")


def format_prompt(template: str, row: dict[str, Any]) -> str:
    """``template.format(**row)`` (so ``{question}`` and any other row field may appear); TaskError on a bad field."""
    try:
        return template.format(**row)
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise TaskError(f"prompt_template {template!r} does not fit a row with fields {sorted(row)}: {e!r}") from e


def extract_answer(response: str, marker: str, prompt: str = "") -> str:
    """The model's answer: the text after the last ``marker`` in ``prompt + response`` (the whole response if the
    marker is empty or absent), stripped and cut at the first newline (the ``marker`` extractor)."""
    return marker_answer(response, prompt, marker)


def describe_row(row: Any, width: int = 60) -> str:
    """A short label of a row for error messages: its question (or prompt) text, cut to ``width`` characters."""
    text = row.get("question", row.get("prompt", row)) if isinstance(row, dict) else row
    text = " ".join(str(text).split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def check_score(value: Any, where: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a float if it is a real, finite number (in [low, high] when given); otherwise a RewardError
    that starts with ``where`` (the function or task and the row). Strings are never parsed."""
    if not isinstance(value, numbers.Real):
        raise RewardError(f"{where} returned {type(value).__name__} {value!r}, expected a finite number")
    x = float(value)
    if not math.isfinite(x):
        raise RewardError(f"{where} returned {x}, expected a finite number")
    if (low is not None and x < low) or (high is not None and x > high):
        raise RewardError(f"{where} returned {x}, outside [{low}, {high}]")
    return x


def answer_str(value: Any, where: str, key: str = "answer") -> str:
    """A gold answer as a non-empty string (numbers are converted); TaskError naming ``where`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TaskError(f"{where}: field {key!r} must be a string or a number, got {type(value).__name__} {value!r}")
    text = str(value).strip()
    if not text:
        raise TaskError(f"{where}: field {key!r} is empty")
    return text


def split_rows(
    rows: list[dict[str, Any]], size: int, eval_size: int, seed: int, source: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shuffle a fixed row list with ``seed``; the first ``eval_size`` rows are held out, up to ``size`` of the rest
    (minus any whose question text also occurs in the held-out rows) train. TaskError if fewer than eval_size + 1."""
    import random

    if len(rows) < eval_size + 1:
        raise TaskError(f"{source}: {len(rows)} usable rows, need at least eval_size + 1 = {eval_size + 1}")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = [rows[i] for i in order[:eval_size]]
    held_q = {r["question"] for r in held}
    train = [rows[i] for i in order[eval_size:] if rows[i]["question"] not in held_q][: max(size, 0)]
    return train, held


class BaseTask:
    """Shared Task plumbing: cached splits, templated prompt, ``" " + answer`` target, extraction + verification.

    Subclasses implement ``_make_splits() -> (train_rows, eval_rows)`` and ``_score(row, extracted) -> float |
    (float, details)``. The answer is taken from the response by ``EXTRACTORS[cfg.extract]``. A built-in scorer
    that fails on garbage model output scores 0 (details["error"]); a *user* scorer (``user_scorer = True``) that
    raises, or any scorer returning anything but a finite number in [0, 1], is a RewardError naming task and row.
    """

    name: str = "task"
    user_scorer: bool = False  # True: _score runs user code, whose exceptions are bugs, not wrong answers
    has_answers: bool = True  # False: rows carry no gold answer (train with reward functions only)

    def __init__(self, cfg: Any, name: str):
        self.cfg = cfg
        self.name = name
        self._splits: dict[str, list[dict[str, Any]]] | None = None
        extract = getattr(cfg, "extract", "marker")
        if extract not in EXTRACTORS:
            raise TaskError(f"task.extract={extract!r} is not an answer extractor; known: {EXTRACTORS.names()}")
        self._extract = EXTRACTORS.get(extract)

    def _make_splits(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        raise NotImplementedError

    def _score(self, row: dict[str, Any], extracted: str) -> Any:
        raise NotImplementedError

    def rows(self, split: str) -> list[dict[str, Any]]:
        if split not in SPLITS:
            raise TaskError(f"{self.name}: unknown split {split!r}; expected one of {SPLITS}")
        if self._splits is None:
            train, held = self._make_splits()
            self._splits = {"train": train, "eval": held}
        return list(self._splits[split])

    def prompt(self, row: dict[str, Any]) -> str:
        return format_prompt(self.cfg.prompt_template, row)

    def messages(self, row: dict[str, Any]) -> list[dict[str, str]] | None:
        """The prompt as chat messages when the row is a conversation (system prompt, earlier turns); None: the
        prompt is ``prompt(row)`` as one user message."""
        return None

    def target(self, row: dict[str, Any]) -> str:
        if row.get("answer") is None:
            raise TaskError(f"{self.name}: row has no gold answer, so there is no SFT target: {row.get('question')!r}")
        return " " + str(row["answer"])

    def extract(self, row: dict[str, Any], response: str) -> str:
        return self._extract(response, self.prompt(row), self.cfg.answer_marker)

    def verify(self, row: dict[str, Any], response: str) -> Verdict:
        response = response if isinstance(response, str) else ""
        extracted = self.extract(row, response)
        details: dict[str, Any] = {"extracted": extracted, "gold": row.get("answer")}
        try:
            out = self._score(row, extracted)
        except RewardError:
            raise
        except Exception as e:  # noqa: BLE001
            if self.user_scorer:
                raise RewardError(f"{self._where(row)} raised {e!r}") from e
            return Verdict(0.0, details | {"error": repr(e)})  # a built-in scorer choking on garbage output
        if isinstance(out, tuple):
            if len(out) != 2 or not isinstance(out[1], dict):
                raise RewardError(f"{self._where(row)} returned the tuple {out!r}, expected a score or "
                                  "(score, details dict)")
            out, extra = out
            details.update(extra)
        if isinstance(out, numbers.Real) and 0.0 <= out <= 1.0:  # the common case (NaN fails the comparison)
            return Verdict(float(out), details)
        return Verdict(check_score(out, self._where(row), 0.0, 1.0), details)

    def _where(self, row: dict[str, Any]) -> str:
        return f"task {self.name!r} verify on row {describe_row(row)}"
