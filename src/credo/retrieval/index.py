"""FAISS index over UniFAR document vectors (inner product on per-block normalised vectors), saved with the corpus ids
(``index.faiss`` + ``index.json``).

A document is stored as [ĝ, f̂_1, .., f̂_K] ((K+1)·D floats). Facet-conditioned doc-doc search is one inner-product
search (``search`` with ``UniFAR.facet_query_vectors``; a NumPy matmul without faiss); the gated scores depend on the
(query, document) pair, so questions and unconditioned doc-doc queries are scored exactly against the stored vectors
(``UniFAR.qd_scores`` / ``dd_scores``) and ranked with ``rank``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from credo.retrieval.data import DataError, Doc
from credo.train.checkpoint import write_dir_atomically


@torch.inference_mode()
def encode_corpus(model, docs: list[Doc], batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """(N, (K+1)·D) float32 document vectors, encoded in length-sorted batches."""
    was = model.training
    model.eval()
    order = sorted(range(len(docs)), key=lambda i: -sum(len(u) for u in docs[i].units()))
    out = np.zeros((len(docs), (model.k + 1) * model.dim), dtype=np.float32)
    for s in tqdm(range(0, len(docs), batch_size), desc="encode", disable=not progress):
        idx = order[s : s + batch_size]
        d = model.encode_docs([docs[i].units() for i in idx])
        out[idx] = model.doc_vectors(d).float().cpu().numpy()
    model.train(was)
    return out


@torch.inference_mode()
def encode_texts(model, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """(N, D) normalised mean-pooled embeddings of plain texts (questions, or docs without sentence structure).

    All texts are tokenised in one call, then batched in order of token count, so each batch pads to its own longest
    row only (less padding than ordering by characters)."""
    was = model.training
    model.eval()
    enc = model.tokenizer(texts, truncation=True, max_length=model.cfg.max_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: -len(enc[i]))
    dev = next(model.encoder.parameters()).device
    out = np.zeros((len(texts), model.dim), dtype=np.float32)
    for s in tqdm(range(0, len(texts), batch_size), desc="encode", disable=not progress):
        idx = order[s : s + batch_size]
        b = model.tokenizer.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
        out[idx] = torch.nn.functional.normalize(model.pool(b.to(dev)), dim=-1).float().cpu().numpy()
    model.train(was)
    return out


class FacetIndex:
    def __init__(self, vectors: np.ndarray, ids: list[str], facets: list[str]):
        if len(ids) != len(vectors):
            raise DataError(f"{len(ids)} ids for {len(vectors)} vectors")
        if len(set(ids)) != len(ids):
            raise DataError("duplicate document ids in the index")
        self.ids, self.facets = list(ids), list(facets)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.pos = {d: i for i, d in enumerate(self.ids)}
        try:
            import faiss

            self.index = faiss.IndexFlatIP(self.vectors.shape[1])
            self.index.add(self.vectors)
        except ImportError:
            self.index = None

    def search(self, queries: np.ndarray, top_k: int = 10, exclude: list[str | None] | None = None):
        """queries (B, (K+1)·D) → per query a list of (doc id, score), best first; ``exclude[i]`` drops one id."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(top_k + (1 if exclude else 0), len(self.ids))
        if self.index is None:
            return self.rank(q @ self.vectors.T, top_k, exclude)
        scores, idx = self.index.search(q, k)
        return self._hits(idx, scores, top_k, exclude)

    def rank(self, scores: np.ndarray, top_k: int = 10, exclude: list[str | None] | None = None):
        """scores (B, N) over the indexed documents (index order) → per query a list of (doc id, score), best first."""
        k = min(top_k + (1 if exclude else 0), len(self.ids))
        idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return self._hits(idx, np.take_along_axis(scores, idx, 1), top_k, exclude)

    def _hits(self, idx: np.ndarray, scores: np.ndarray, top_k: int, exclude: list[str | None] | None):
        out = []
        for b in range(len(idx)):
            drop = exclude[b] if exclude else None
            hits = [(self.ids[i], float(s)) for i, s in zip(idx[b], scores[b]) if i >= 0 and self.ids[i] != drop]
            out.append(hits[:top_k])
        return out

    def doc_vectors(self, ids: list[str]) -> np.ndarray:
        missing = [d for d in ids if d not in self.pos]
        if missing:
            raise DataError(f"documents not in the index: {missing[:5]}")
        return self.vectors[[self.pos[d] for d in ids]]

    def save(self, out: str | Path) -> Path:
        """``index.faiss`` (or ``vectors.npy`` without FAISS) + ``index.json`` (ids, facets), written atomically."""
        def write(tmp: Path) -> None:
            if self.index is not None:
                import faiss

                faiss.write_index(self.index, str(tmp / "index.faiss"))
            else:
                np.save(tmp / "vectors.npy", self.vectors)
            (tmp / "index.json").write_text(json.dumps({"ids": self.ids, "facets": self.facets}))

        return write_dir_atomically(Path(out), write)

    @classmethod
    def load(cls, path: str | Path) -> FacetIndex:
        path = Path(path)
        if not (path / "index.json").is_file():
            raise DataError(f"--index {path}: not a credo retrieval index (no index.json)")
        try:
            meta = json.loads((path / "index.json").read_text(encoding="utf-8"))
            ids, facets = meta["ids"], meta["facets"]
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path / 'index.json'}: truncated or malformed ({e!r})") from e
        try:
            if (path / "index.faiss").is_file():
                import faiss

                idx = faiss.read_index(str(path / "index.faiss"))
                vectors = idx.reconstruct_n(0, idx.ntotal)
            else:
                vectors = np.load(path / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError, RuntimeError) as e:
            raise DataError(f"{path}: index vectors truncated or unreadable ({e})") from e
        return cls(vectors, ids, facets)
