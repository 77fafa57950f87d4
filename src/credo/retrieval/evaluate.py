"""Evaluate a UniFAR model (or BM25) on a ``RetrievalSet`` split, grouped by query type.

Groups: ``question`` (q-doc; ``question:<type>`` when questions carry ``meta["qtype"]``), ``doc`` (unconditioned
doc-doc), ``facet:<name>`` (facet-conditioned doc-doc).
Document queries never retrieve themselves.
"""

from __future__ import annotations

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
        if q.query_doc is None:
            key = f"question:{q.meta['qtype']}" if q.meta.get("qtype") else "question"
        else:
            key = f"facet:{q.meta['facet']}" if q.meta.get("facet") else "doc"
        groups.setdefault(key, []).append(qid)
    return groups


@torch.inference_mode()
def search_queries(model, data: RetrievalSet, qids: list[str], index: FacetIndex, top_k: int = 100,
                   batch_size: int = 64) -> list[list[tuple[str, float]]]:
    """Per query its top-k (doc id, score): questions and unconditioned query documents are scored exactly against
    every indexed vector (the gate reads the pair); facet-conditioned ones by one inner-product search.
    Query documents never retrieve themselves."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    docs = torch.from_numpy(index.vectors).to(dev)
    out = []
    for s in range(0, len(qids), batch_size):
        qs = [data.queries[q] for q in qids[s : s + batch_size]]
        if qs[0].query_doc is None:
            scores = model.qd_scores(model.encode_questions([q.text for q in qs]), docs)
            out += index.rank(scores.float().cpu().numpy(), top_k)
            continue
        qv = torch.from_numpy(index.doc_vectors([q.query_doc for q in qs])).to(dev)
        facets = []
        for q in qs:
            f = q.meta.get("facet")
            if f is not None and f not in model.cfg.facets:
                raise ValueError(f"query {q.id!r} asks for facet {f!r}; the model has {model.cfg.facets}")
            facets.append(None if f is None else model.cfg.facets.index(f))
        excl = [q.query_doc for q in qs]
        if len(set(facets)) == 1 and facets[0] is not None:
            out += index.search(model.facet_query_vectors(qv, facets[0]).cpu().numpy(), top_k, exclude=excl)
        else:
            out += index.rank(model.dd_scores(qv, facets, docs).float().cpu().numpy(), top_k, exclude=excl)
    model.train(was)
    return out


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
        hits = search_queries(model, data, qids, index, top_k)  # groups are single-kind
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
