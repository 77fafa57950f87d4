"""Rows from anything ``datasets`` reads locally, or from memory, in TRL's standard or conversational format.

``task.path`` is a JSONL / JSON / Parquet / CSV file, a data directory, or a ``save_to_disk`` directory; the
training rows are its split ``task.split``. In memory, ``DatasetTask(cfg, data=...)`` takes a ``datasets.Dataset``,
a ``DatasetDict`` or a list of dicts. Held-out rows are ``task.eval_split`` of the same data, or ``task.eval_path``,
or else ``task.eval_size`` rows held out of the training split (seeded by ``task.seed``, as the other tasks do).

Formats, per row:
- standard: a ``prompt`` string (or, without a ``prompt`` column, the ``task.question_field`` string);
- conversational: ``messages`` (or ``prompt``) as a list of ``{role, content}`` with roles system / user /
  assistant. Everything up to the last user message is the prompt (system prompts and earlier turns kept); a
  trailing assistant message is the SFT target when there is no gold answer.
``task.prompt_template`` is applied to the (last) user message with the row's fields, ``{question}`` being that
message's text (``"{question}"`` keeps it verbatim). The gold answer column ``task.answer_field`` is optional; if
it exists, every row needs one, and the task's answer extractor + math-verify check responses against it. Without
it the task has no verifier: train with ``reward.functions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from credo.tasks.base import TASKS, BaseTask, TaskError, Verdict, answer_str, describe_row, format_prompt, split_rows
from credo.tasks.math_file import math_equal

BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
            ".arrow": "arrow"}
ROLES = ("system", "user", "assistant")


def load_local(path: str) -> Any:
    """A ``Dataset`` or ``DatasetDict`` read from a local file or directory with ``datasets`` (no download)."""
    import datasets

    from credo.models import cache_dir

    p = Path(path).expanduser()
    if not p.exists():
        raise TaskError(f"dataset not found: {p}")
    saved = p.is_dir() and any((p / f).is_file() for f in ("dataset_dict.json", "dataset_info.json", "state.json"))
    builder = "save_to_disk" if saved else "directory" if p.is_dir() else BUILDERS.get(p.suffix.lower())
    if builder is None:
        raise TaskError(f"{p}: cannot tell the format from the suffix {p.suffix!r}; use one of {sorted(BUILDERS)}, "
                        "a data directory or a save_to_disk directory")
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        if builder == "save_to_disk":
            return datasets.load_from_disk(str(p))
        cache = str(cache_dir() / "datasets")
        if builder == "directory":
            return datasets.load_dataset(str(p), cache_dir=cache)
        return datasets.load_dataset(builder, data_files=str(p), cache_dir=cache)
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds; the user needs the file named
        raise TaskError(f"{p}: datasets could not read it ({builder}): {type(e).__name__}: {e}") from e
    finally:
        if bars:
            datasets.enable_progress_bars()


def pick_split(data: Any, split: str, source: str) -> list[dict[str, Any]]:
    """Split ``split`` of a DatasetDict (empty: its first split; a Dataset or list has one split, used as it is) ->
    a list of records."""
    import datasets

    if isinstance(data, datasets.DatasetDict | dict):
        split = split or next(iter(data), "")
        if split not in data:
            raise TaskError(f"{source}: no split {split!r}; splits: {sorted(data)}")
        data = data[split]
    if isinstance(data, datasets.Dataset):
        return data.to_list()
    if isinstance(data, list | tuple):
        return list(data)
    raise TaskError(f"{source}: expected a datasets.Dataset, DatasetDict or list of dicts, got {type(data).__name__}")


def check_messages(value: Any, where: str, key: str) -> list[dict[str, str]]:
    """A conversation as a list of ``{"role", "content"}`` (extra keys dropped); TaskError naming the row."""
    if not isinstance(value, list) or not value:
        raise TaskError(f"{where}: field {key!r} must be a non-empty list of {{role, content}} messages")
    out = []
    for j, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise TaskError(f"{where}: {key}[{j}] must be {{role: system|user|assistant, content: string}}, got {m!r}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


class DatasetTask(BaseTask):
    def __init__(self, cfg: Any, data: Any = None):
        if data is None:
            if not cfg.path:
                raise TaskError("task.kind 'dataset' needs task.path (a JSONL / JSON / Parquet / CSV file or a "
                                "dataset directory) or in-memory data")
            name, source, data = Path(cfg.path).stem or "dataset", str(cfg.path), load_local(cfg.path)
        else:
            name, source = "dataset", "in-memory dataset"
        super().__init__(cfg, name)
        self._source = source
        train = pick_split(data, cfg.split, source)
        if cfg.eval_path:
            held, held_source = pick_split(load_local(cfg.eval_path), cfg.eval_split, cfg.eval_path), cfg.eval_path
        elif cfg.eval_split:
            held, held_source = pick_split(data, cfg.eval_split, source), f"{source} [{cfg.eval_split}]"
        else:
            held, held_source = None, source
        self.has_answers = any(isinstance(r, dict) and cfg.answer_field in r for r in train[:1] + (held or [])[:1])
        self._train = [self._row(r, f"{source} [{cfg.split}] row {i}") for i, r in enumerate(train)]
        self._held = None if held is None else [self._row(r, f"{held_source} row {i}") for i, r in enumerate(held)]

    def _row(self, rec: Any, where: str) -> dict[str, Any]:
        cfg = self.cfg
        if not isinstance(rec, dict):
            raise TaskError(f"{where}: expected a mapping, got {type(rec).__name__}")
        row = dict(rec)
        convo = rec.get("messages") if rec.get("messages") is not None else rec.get("prompt")
        if isinstance(convo, list):
            msgs = check_messages(convo, where, "messages" if rec.get("messages") is not None else "prompt")
            users = [j for j, m in enumerate(msgs) if m["role"] == "user"]
            if not users:
                raise TaskError(f"{where}: the conversation has no user message")
            last = users[-1]
            row["prompt_messages"] = msgs[: last + 1]
            tail = msgs[last + 1:]
            if tail and tail[0]["role"] == "assistant":
                row["completion"] = tail[0]["content"]
            question = msgs[last]["content"]
        else:
            key = "prompt" if "prompt" in rec else cfg.question_field
            question = rec.get(key)
            if not isinstance(question, str) or not question.strip():
                raise TaskError(f"{where}: needs a 'prompt' string, a 'messages' list or a {cfg.question_field!r} "
                                f"string; got {key}={question!r} (fields: {sorted(rec)})")
        row["question"] = question
        if self.has_answers:
            if rec.get(cfg.answer_field) is None:
                raise TaskError(f"{where}: missing gold answer {cfg.answer_field!r} (the column exists, so every "
                                "row needs one)")
            row["answer"] = answer_str(rec[cfg.answer_field], where, cfg.answer_field)
        else:
            row["answer"] = None
        return row

    def _make_splits(self):
        if self._held is None:
            return split_rows(self._train, self.cfg.size, self.cfg.eval_size, self.cfg.seed, self._source)
        held = self._held[: self.cfg.eval_size]
        held_q = {r["question"] for r in held}
        return [r for r in self._train if r["question"] not in held_q][: self.cfg.size], held

    def prompt(self, row: dict[str, Any]) -> str:
        return format_prompt(self.cfg.prompt_template, row)

    def messages(self, row: dict[str, Any]) -> list[dict[str, str]] | None:
        msgs = row.get("prompt_messages")
        if not msgs:
            return None
        return msgs[:-1] + [{"role": "user", "content": self.prompt(row)}]

    def target(self, row: dict[str, Any]) -> str:
        if row.get("answer") is None and row.get("completion"):
            return row["completion"]
        return super().target(row)

    def verify(self, row: dict[str, Any], response: str) -> Verdict:
        if row.get("answer") is None:
            raise TaskError(f"task {self.name!r} has no gold answer for row {describe_row(row)}, so it cannot be "
                            f"verified (no {self.cfg.answer_field!r} column); score it with reward.functions")
        return super().verify(row, response)

    def _score(self, row: dict[str, Any], extracted: str) -> tuple[float, dict[str, Any]]:
        ok, how = math_equal(str(row["answer"]), extracted)
        return float(ok), {"method": how}


@TASKS.register("dataset")
def build_dataset(cfg: Any, data: Any = None) -> DatasetTask:
    """A local dataset (``cfg.path``) or in-memory ``data`` as a Task."""
    return DatasetTask(cfg, data=data)
