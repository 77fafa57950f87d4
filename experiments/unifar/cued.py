"""UniFAR decisive miniature on the cue-only, paraphrased synthetic set (``credo.retrieval.synthetic_cued``).

Facets share one topic vocabulary and are marked only by cue templates; questions are written in a paraphrase
vocabulary learned from training pairs, so BM25 cannot win by lexical overlap; question types ``global``, ``facet1``,
``facet2``. Per seed (data, encoder initialisation and batching all from the seed; every arm of a seed shares them):

  bm25 · untrained (mean pooling) · joint_no_anchors (mean pooling, q-doc + doc-doc) · unifar (anchors + adaptive
  gate + KL) · fixed_gate (β = 0.5) · no_kl (w_kl = 0)

Measured on the test split: MAP per question type and per facet-conditioned doc-doc group; the gate β by question
type (mean over each test question's relevant documents, and over all documents) for the adaptive and fixed arms;
the question→facet distribution's agreement with the question's facets (mass on the asked facets).

Usage: PYTHONPATH=src python experiments/unifar/cued.py [--seeds 0 1 2 3 4] [--steps 300] [--arms ...]
  -> results_cued.json (kept across calls), map_cued.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from credo.retrieval.config import load_retrieval_config
from credo.retrieval.evaluate import evaluate_bm25, evaluate_model, query_groups
from credo.retrieval.index import FacetIndex, encode_corpus
from credo.retrieval.model import UniFAR
from credo.retrieval.tiny import build_tiny_encoder
from credo.retrieval.train import load_sources, train

HERE = Path(__file__).parent
ARMS = {"bm25": None, "untrained": ["model.anchors=false"], "joint_no_anchors": ["model.anchors=false", "train.w_kl=0"],
        "unifar": [], "fixed_gate": ["model.gate=fixed"], "no_kl": ["train.w_kl=0"]}
DATA = ["data.qd=synthetic_cued", "data.dd=synthetic_cued", "data.synthetic_docs=300", "data.synthetic_topics=8",
        "data.synthetic_questions=600"]
TINY = ["train.lr=3e-3", "train.head_lr=1e-2", "train.temperature=0.1", "model.max_length=96"]


@torch.inference_mode()
def gate_stats(model: UniFAR, data) -> dict:
    """Per test question type: mean β over (question, relevant document) pairs and over all documents; the mass
    p(k|q) puts on the question's asked facets."""
    model.eval()
    docs = list(data.corpus.values())
    index = FacetIndex(encode_corpus(model, docs, 32, False), [d.id for d in docs], model.cfg.facets)
    vec = torch.from_numpy(index.vectors)
    g = vec.view(len(docs), model.k + 1, model.dim)[:, 0]
    pos = {d.id: i for i, d in enumerate(docs)}
    out = {}
    for group, qids in query_groups(data, "test").items():
        if not group.startswith("question"):
            continue
        q = model.encode_questions([data.queries[x].text for x in qids])
        beta = model.gate_value(F.normalize(q["e"], dim=-1), g, 0)          # (B, N)
        rel = torch.zeros_like(beta, dtype=torch.bool)
        for i, x in enumerate(qids):
            for d, grade in data.qrels["test"][x].items():
                rel[i, pos[d]] = grade > 0
        asked = torch.tensor([[float(f in data.queries[x].meta["facets"]) for f in model.cfg.facets] for x in qids])
        out[group] = {"beta_relevant": float(beta[rel].mean()), "beta_all": float(beta.mean()),
                      "p_on_asked": float((q["p"] * asked).sum(-1).mean())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arms", nargs="*", default=list(ARMS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default=str(HERE / "results_cued.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results["_steps"] = a.steps
    for seed in a.seeds:
        base = load_retrieval_config(None, DATA + [f"data.seed={seed}"])
        src = load_sources(base)
        data = src.qd
        texts = [" ".join(d.units()) for d in data.corpus.values()] + [q.text for q in data.queries.values()]
        encoder = str(build_tiny_encoder(f"/tmp/unifar_cued_tiny_{seed}", texts + [" ".join(base.model.facets)],
                                         seed=seed))
        for arm in a.arms:
            t0 = time.time()
            if arm == "bm25":
                res = {"map": {g: m["map"] for g, m in evaluate_bm25(data, "test").items()}}
            else:
                cfg = load_retrieval_config(None, DATA + TINY + ARMS[arm] + [
                    f"data.seed={seed}", f"model.path={encoder}", f"train.seed={seed}", f"train.steps={a.steps}",
                    "log.progress=false", f"log.output_dir=/tmp/unifar_cued_runs/{arm}_{seed}", "eval.before=false"])
                torch.manual_seed(seed)
                if arm == "untrained":
                    model = UniFAR.from_encoder(cfg.model)
                else:
                    model, _ = train(cfg, src, overwrite=True)
                res = {"map": {g: m["map"] for g, m in evaluate_model(model, data, "test").items()}}
                if cfg.model.anchors:
                    res["gate"] = gate_stats(model, data)
            results.setdefault(arm, {})[str(seed)] = res
            out.write_text(json.dumps(results, indent=1))
            print(arm, seed, f"{time.time() - t0:.0f}s", {g: round(v, 3) for g, v in res["map"].items()}, flush=True)


if __name__ == "__main__":
    main()
