"""trec-style metrics: Recall@k, MAP, nDCG@k via pytrec_eval (pip ``pytrec-eval-terrier``), with a pure-Python
fallback computing the same trec_eval definitions (ties broken by doc id, descending, like trec_eval)."""

from __future__ import annotations

import math

DEFAULT = ("recall@5", "recall@20", "map", "ndcg@10")


def _trec_name(m: str) -> tuple[str, str]:
    """'recall@5' → ('recall.5', 'recall_5'); 'ndcg@10' → ('ndcg_cut.10', 'ndcg_cut_10'); 'map' → ('map', 'map')."""
    if m == "map":
        return "map", "map"
    name, _, k = m.partition("@")
    if name not in ("recall", "ndcg", "p") or not k.isdigit():
        raise ValueError(f"unknown metric {m!r}; use recall@k, ndcg@k, p@k or map")
    base = {"recall": "recall", "ndcg": "ndcg_cut", "p": "P"}[name]
    return f"{base}.{k}", f"{base}_{k}"


def _ranked(run: dict[str, float]) -> list[str]:
    return [d for d, _ in sorted(run.items(), key=lambda x: (x[1], x[0]), reverse=True)]


def per_query_python(qrels: dict[str, int], run: dict[str, float], metric: str) -> float:
    ranked, rel = _ranked(run), {d for d, g in qrels.items() if g > 0}
    if metric == "map":
        hits, total = 0, 0.0
        for i, d in enumerate(ranked, 1):
            if d in rel:
                hits += 1
                total += hits / i
        return total / len(rel)
    name, _, k = metric.partition("@")
    top = ranked[: int(k)]
    if name == "recall":
        return sum(d in rel for d in top) / len(rel)
    if name == "p":
        return sum(d in rel for d in top) / int(k)
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(top) if qrels.get(d, 0) > 0)
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[: int(k)]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def evaluate_run(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metrics=DEFAULT, backend: str = "auto"
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query metrics over the queries that have >= 1 relevant document (missing runs score 0)."""
    qrels = {q: r for q, r in qrels.items() if any(g > 0 for g in r.values())}
    if not qrels:
        raise ValueError("no query with a relevant document to evaluate")
    names = {m: _trec_name(m) for m in metrics}
    per: dict[str, dict[str, float]] = {}
    use_trec = backend == "pytrec_eval"
    if backend == "auto":
        try:
            import pytrec_eval  # noqa: F401

            use_trec = True
        except ImportError:
            use_trec = False
    if use_trec:
        import pytrec_eval

        ev = pytrec_eval.RelevanceEvaluator(qrels, {n[0] for n in names.values()})
        res = ev.evaluate({q: run.get(q, {}) for q in qrels if run.get(q)})
        for q in qrels:
            per[q] = {m: float(res.get(q, {}).get(n[1], 0.0)) for m, n in names.items()}
    else:
        for q, r in qrels.items():
            per[q] = {m: per_query_python(r, run.get(q, {}), m) if run.get(q) else 0.0 for m in metrics}
    mean = {m: sum(p[m] for p in per.values()) / len(per) for m in metrics}
    return mean, per
