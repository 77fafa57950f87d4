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
    marker is empty or absent), stripped and cut at the first newline."""
    text = prompt + response
    text = text.rsplit(marker, 1)[1] if marker and marker in text else response
    return text.strip().split("\n", 1)[0].strip()


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
    """Shared Task plumbing: cached splits, templated prompt, ``" " + answer`` target, marker-based verification.

    Subclasses implement ``_make_splits() -> (train_rows, eval_rows)`` and ``_score(row, extracted) -> float |
    (float, details)``. ``verify`` never raises on model output: a scorer exception scores 0 (details["error"]).
    """

    name: str = "task"

    def __init__(self, cfg: Any, name: str):
        self.cfg = cfg
        self.name = name
        self._splits: dict[str, list[dict[str, Any]]] | None = None

    def _make_splits(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        raise NotImplementedError

    def _score(self, row: dict[str, Any], extracted: str) -> float | tuple[float, dict[str, Any]]:
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

    def target(self, row: dict[str, Any]) -> str:
        if row.get("answer") is None:
            raise TaskError(f"{self.name}: row has no gold answer, so there is no SFT target: {row.get('question')!r}")
        return " " + str(row["answer"])

    def verify(self, row: dict[str, Any], response: str) -> Verdict:
        response = response if isinstance(response, str) else ""
        extracted = extract_answer(response, self.cfg.answer_marker, self.prompt(row))
        details: dict[str, Any] = {"extracted": extracted, "gold": row.get("answer")}
        try:
            out = self._score(row, extracted)
            score, extra = out if isinstance(out, tuple) else (out, {})
            score = float(score)
            details.update(extra or {})
        except Exception as e:  # noqa: BLE001 - garbage model output must never crash the trainer
            score, details["error"] = 0.0, repr(e)
        if not score == score:  # NaN
            score = 0.0
        return Verdict(min(max(score, 0.0), 1.0), details)
