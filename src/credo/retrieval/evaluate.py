"""Evaluate a UniFAR model (or BM25) on a ``RetrievalSet`` split, grouped by query type.

Groups: ``question`` (q-doc), ``doc`` (unconditioned doc-doc), ``facet:<name>`` (facet-conditioned doc-doc).
Document queries never retrieve themselves.
"""

from __future__ import annotations

import numpy as np
import torch

from credo.retrieval.data import RetrievalSet
from credo.retrieval.index import FacetIndex, encode_corpus
from credo.retrieval.metrics import DEFAULT, evaluate_run


def query_groups(data: RetrievalSet, split: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for qid, rel in data.split(split).items():
        if not any(g > 0 for g in rel.values()):
            continue
        q = data.queries[qid]
        key = "question" if q.query_doc is None else (f"facet:{q.meta['facet']}" if q.meta.get("facet") else "doc")
        groups.setdefault(key, []).append(qid)
    return groups


@torch.inference_mode()
def query_vectors(model, data: RetrievalSet, qids: list[str], index: FacetIndex, batch_size: int = 64) -> np.ndarray:
    """(B, (K+1)·D) search vectors: questions through the encoder, query documents from their indexed vectors."""
    was = model.training
    model.eval()
    out = []
    for s in range(0, len(qids), batch_size):
        qs = [data.queries[q] for q in qids[s : s + batch_size]]
        if qs[0].query_doc is None:
            out.append(model.question_vectors(model.encode_questions([q.text for q in qs])))
        else:
            v = torch.from_numpy(index.doc_vectors([q.query_doc for q in qs])).view(len(qs), model.k + 1, model.dim)
            facets = []
            for q in qs:
                f = q.meta.get("facet")
                if f is not None and f not in model.cfg.facets:
                    raise ValueError(f"query {q.id!r} asks for facet {f!r}; the model has {model.cfg.facets}")
                facets.append(None if f is None else model.cfg.facets.index(f))
            dev = next(model.parameters()).device
            out.append(model.doc_query_vectors({"g": v[:, 0].to(dev), "f": v[:, 1:].to(dev)}, facets))
    model.train(was)
    return torch.cat(out).float().cpu().numpy()


def evaluate_model(
    model,
    data: RetrievalSet,
    split: str = "test",
    top_k: int = 100,
    batch_size: int = 32,
    progress: bool = False,
    index: FacetIndex | None = None,
    metrics=DEFAULT,
) -> dict[str, dict]:
    """{group: {metric: mean}} for every query group of the split (index built here unless given)."""
    if index is None:
        docs = list(data.corpus.values())
        index = FacetIndex(encode_corpus(model, docs, batch_size, progress), [d.id for d in docs], model.cfg.facets)
    res = {}
    for group, qids in sorted(query_groups(data, split).items()):
        # within a batch all queries share a kind; groups are single-kind
        vecs = query_vectors(model, data, qids, index)
        excl = [data.queries[q].query_doc for q in qids]
        hits = index.search(vecs, top_k, exclude=excl if excl[0] is not None else None)
        run = {q: dict(h) for q, h in zip(qids, hits)}
        res[group] = evaluate_run({q: data.split(split)[q] for q in qids}, run, metrics)[0]
    return res


def evaluate_bm25(data: RetrievalSet, split: str = "test", top_k: int = 100, metrics=DEFAULT) -> dict[str, dict]:
    """BM25 (bm25s, English stop words) baseline; document queries use the whole text, so facet groups are
    unconditioned."""
    import bm25s

    ids = list(data.corpus)
    texts = [" ".join(data.corpus[d].units()) for d in ids]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    res = {}
    for group, qids in sorted(query_groups(data, split).items()):
        qs = [data.queries[q] for q in qids]
        qt = [q.text if q.query_doc is None else " ".join(data.corpus[q.query_doc].units()) for q in qs]
        k = min(top_k + 1, len(ids))
        idx, sc = retriever.retrieve(bm25s.tokenize(qt, stopwords="en", show_progress=False), k=k, show_progress=False)
        run = {}
        for q, row, srow in zip(qs, idx, sc):
            run[q.id] = {ids[i]: float(s) for i, s in zip(row, srow) if ids[i] != q.query_doc}
        res[group] = evaluate_run({q: data.split(split)[q] for q in qids}, run, metrics)[0]
    return res
