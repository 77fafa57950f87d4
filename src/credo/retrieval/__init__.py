"""UniFAR-style facet-aware scientific retrieval (doc-doc and question-doc) on a real encoder.

What the paper (arXiv 2602.23766) states: one encoder for both regimes; adaptive multi-granularity aggregation;
learnable facet anchors (background / method / result) aligning document structure with question intent; joint
doc-doc + q-doc training with contrastive and KL losses; the number of facets is fixed at training time.

**Reconstructed here (not from the paper, whose architecture and losses are not public)**: the anchor attention over
sentence vectors, the question→facet softmax, the sigmoid gate with a per-query-type bias and score-level fusion
(``model.py``), the KL target (``train.py``), the loss weights, and the synthetic CSFCube-like generator
(``synthetic.py``). No number from this package reproduces a paper number.

Modules: ``data`` (BEIR I/O), ``pubmedqa`` / ``foldoc`` / ``synthetic`` (sources), ``model``, ``losses``, ``train``,
``index`` (FAISS), ``metrics`` (pytrec_eval), ``evaluate``, ``cli``, ``config``, ``tiny`` (test encoder).
"""

from credo.retrieval.data import DataError, Doc, Query, RetrievalSet, read_beir, write_beir

__all__ = ["DataError", "Doc", "Query", "RetrievalSet", "read_beir", "write_beir"]
