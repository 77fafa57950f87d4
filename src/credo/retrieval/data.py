"""Retrieval data in BEIR layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/{split}.tsv``.

A ``RetrievalSet`` holds one corpus, all queries, and qrels per split (``train`` / ``test``). Two kinds of query:

* questions (q-doc): ``Query.text`` is the question; ``meta["facets"]`` may give a facet distribution (weak label);
* document queries (doc-doc, CSFCube-style): ``meta["query_doc"]`` names a corpus document; ``meta["facet"]`` (optional)
  conditions the query on one facet.

qrels map query id → {doc id → grade}; grade 0 is a judged non-relevant document (used as a hard negative in training).
Documents carry ordered ``sentences`` (sections, "Context (i)" parts, ...); BEIR files keep them in ``metadata``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from credo.jsonl import read_jsonl, read_lines


class DataError(ValueError):
    """Malformed or inconsistent retrieval data (missing files, duplicate ids, unknown documents, empty texts)."""


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def split_sentences(text: str) -> list[str]:
    """Rule-based sentence split (end punctuation followed by a capital/digit); blank pieces dropped."""
    return [s.strip() for s in _SENT.split(text) if s.strip()]


@dataclass
class Doc:
    id: str
    title: str
    text: str
    sentences: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sentences:
            self.sentences = split_sentences(self.text)
        if not (self.title.strip() or self.sentences):
            raise DataError(f"document {self.id!r} is empty (no title and no text)")

    def units(self) -> list[str]:
        """Title (if any) followed by the sentences: the units the model pools over."""
        return ([self.title] if self.title.strip() else []) + self.sentences


@dataclass
class Query:
    id: str
    text: str
    meta: dict = field(default_factory=dict)

    @property
    def query_doc(self) -> str | None:
        return self.meta.get("query_doc")


@dataclass
class RetrievalSet:
    corpus: dict[str, Doc]
    queries: dict[str, Query]
    qrels: dict[str, dict[str, dict[str, int]]]  # split -> qid -> did -> grade
    name: str = "beir"

    def validate(self) -> RetrievalSet:
        for split, qr in self.qrels.items():
            for qid, docs in qr.items():
                if qid not in self.queries:
                    raise DataError(f"{self.name}: qrels/{split} names unknown query {qid!r}")
                for did in docs:
                    if did not in self.corpus:
                        raise DataError(f"{self.name}: qrels/{split} query {qid!r} names unknown document {did!r}")
        for q in self.queries.values():
            if q.query_doc is not None and q.query_doc not in self.corpus:
                raise DataError(f"{self.name}: query {q.id!r} uses unknown query_doc {q.query_doc!r}")
            if q.query_doc is None and not q.text.strip():
                raise DataError(f"{self.name}: query {q.id!r} has empty text")
        return self

    def split(self, split: str, kind: str | None = None) -> dict[str, dict[str, int]]:
        """qrels of one split, optionally only 'question' or 'document' queries."""
        if split not in self.qrels:
            raise DataError(f"{self.name}: no qrels split {split!r} (have {sorted(self.qrels)})")
        out = self.qrels[split]
        if kind == "question":
            return {q: d for q, d in out.items() if self.queries[q].query_doc is None}
        if kind == "document":
            return {q: d for q, d in out.items() if self.queries[q].query_doc is not None}
        return out


def _read_jsonl(path: Path, what: str) -> Iterator[tuple[str, dict]]:
    """``("file:line", object)`` per row, streamed with the limits of ``credo.jsonl``."""
    if not path.is_file():
        raise DataError(f"missing {what} file: {path}")
    for i, row in read_jsonl(path, DataError):
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        yield f"{path}:{i}", row


def read_beir(root: str | Path, name: str | None = None) -> RetrievalSet:
    """Read a BEIR folder; every ``qrels/*.tsv`` becomes a split. Raises ``DataError`` on any inconsistency."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"BEIR folder not found: {root}")
    corpus: dict[str, Doc] = {}
    for where, r in _read_jsonl(root / "corpus.jsonl", "corpus"):
        did = str(r.get("_id", ""))
        if not did:
            raise DataError(f"{where}: the row has no _id")
        if did in corpus:
            raise DataError(f"{where}: duplicate document id {did!r}")
        meta = r.get("metadata") or {}
        title, text = r.get("title", "") or "", r.get("text", "") or ""
        if not (isinstance(meta, dict) and isinstance(title, str) and isinstance(text, str)):
            raise DataError(f"{where}: title and text must be strings and metadata an object")
        meta = dict(meta)
        try:
            corpus[did] = Doc(did, title, text, meta.pop("sentences", []), meta)
        except DataError as e:
            raise DataError(f"{where}: {e}") from e
    queries: dict[str, Query] = {}
    for where, r in _read_jsonl(root / "queries.jsonl", "queries"):
        qid = str(r.get("_id", ""))
        if not qid:
            raise DataError(f"{where}: the row has no _id")
        if qid in queries:
            raise DataError(f"{where}: duplicate query id {qid!r}")
        text, meta = r.get("text", "") or "", r.get("metadata") or {}
        if not (isinstance(text, str) and isinstance(meta, dict)):
            raise DataError(f"{where}: text must be a string and metadata an object")
        queries[qid] = Query(qid, text, dict(meta))
    qdir = root / "qrels"
    files = sorted(qdir.glob("*.tsv")) if qdir.is_dir() else []
    if not files:
        raise DataError(f"missing qrels: no {qdir}/*.tsv")
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for f in files:
        split: dict[str, dict[str, int]] = {}
        for i, line in read_lines(f, DataError):
            row = next(csv.reader([line], delimiter="\t"), [])
            if not row or (i == 1 and row[0] == "query-id"):
                continue
            if len(row) != 3:
                raise DataError(f"{f}:{i}: expected 'query-id<TAB>corpus-id<TAB>score', got {row!r}")
            try:
                split.setdefault(row[0], {})[row[1]] = int(row[2])
            except ValueError as e:
                raise DataError(f"{f}:{i}: score {row[2]!r} is not an integer") from e
        qrels[f.stem] = split
    return RetrievalSet(corpus, queries, qrels, name or root.name).validate()


def write_beir(data: RetrievalSet, root: str | Path) -> Path:
    """Write ``data`` as a BEIR folder (sentences kept in ``metadata.sentences``)."""
    data.validate()
    root = Path(root)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for d in data.corpus.values():
            row = {"_id": d.id, "title": d.title, "text": d.text, "metadata": {**d.meta, "sentences": d.sentences}}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q in data.queries.values():
            fh.write(json.dumps({"_id": q.id, "text": q.text, "metadata": q.meta}, ensure_ascii=False) + "\n")
    for split, qr in data.qrels.items():
        with (root / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for qid, docs in qr.items():
                for did, g in docs.items():
                    fh.write(f"{qid}\t{did}\t{g}\n")
    return root
