"""``credo retrieve {train,index,search,eval}``; ``add_subparsers(sub)`` hooks into the main argparse CLI and
``main(argv)`` runs it standalone (``python -m credo.retrieval.cli retrieve ...``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from credo.cli import add_run_args


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--beir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/*.tsv)")
    g.add_argument(
        "--source",
        choices=["synthetic", "synthetic_cued", "pubmedqa", "foldoc"],
        help="built-in data set (defaults of the data.* config keys, overridable with --set)",
    )
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="data.* overrides, e.g. data.seed=1")


def add_subparsers(subparsers) -> argparse.ArgumentParser:
    r = subparsers.add_parser("retrieve", help="UniFAR facet-aware scientific retrieval: train, index, search, eval")
    sub = r.add_subparsers(dest="retrieve_cmd", required=True)
    t = sub.add_parser("train", help="train UniFAR from a recipe (see recipes/unifar.yaml)")
    add_run_args(t)
    t.set_defaults(retrieve_fn=cmd_train)
    i = sub.add_parser("index", help="encode a corpus into a FAISS index saved with its document ids")
    i.add_argument("--model", required=True, help="checkpoint dir, 'minilm', or a local HF encoder dir")
    i.add_argument("--out", required=True, help="index folder to write")
    i.add_argument("--batch-size", type=int, default=32)
    _data_args(i)
    i.set_defaults(retrieve_fn=cmd_index)
    s = sub.add_parser("search", help="top-k documents for a question (or for a document with --like)")
    s.add_argument("question", nargs="?", default="")
    s.add_argument("--model", required=True)
    s.add_argument("--index", required=True)
    s.add_argument("--top-k", type=int, default=10)
    s.add_argument("--like", help="doc-doc search: an indexed document id used as the query")
    s.add_argument("--facet", help="with --like: condition on this facet (e.g. method)")
    s.set_defaults(retrieve_fn=cmd_search)
    e = sub.add_parser("eval", help="Recall@5/@20, MAP, nDCG@10 per query group on a split")
    e.add_argument("--model", help="checkpoint dir, 'minilm', or a local HF encoder dir (omit with --bm25)")
    e.add_argument("--bm25", action="store_true", help="evaluate the BM25 baseline instead of a model")
    e.add_argument("--split", default="test")
    e.add_argument("--top-k", type=int, default=100)
    e.add_argument("--out", help="write the metrics as JSON here")
    _data_args(e)
    e.set_defaults(retrieve_fn=cmd_eval)
    return r


def load_model(path: str, device: str = "auto"):
    """A UniFAR checkpoint (has unifar.json) or a plain encoder ('minilm' / HF dir) wrapped untrained, on
    ``device``."""
    from credo.models.device import resolve_device
    from credo.retrieval.config import RetrievalModelConfig
    from credo.retrieval.data import DataError
    from credo.retrieval.model import CONFIG_FILE, UniFAR
    from credo.train.state import check_safetensors

    if Path(path).is_dir():
        check_safetensors(path)
    if Path(path, CONFIG_FILE).is_file():
        model = UniFAR.load(path)
    elif path != "minilm" and not Path(path, "config.json").is_file():
        raise DataError(f"--model {path}: not a UniFAR checkpoint (no {CONFIG_FILE}), 'minilm' or a Hugging Face "
                        "encoder directory (no config.json)")
    else:
        model = UniFAR.from_encoder(RetrievalModelConfig(path=path))
    return model.to(resolve_device(device))


def _data(args):
    from credo.retrieval.config import load_retrieval_config
    from credo.retrieval.data import read_beir
    from credo.retrieval.train import load_sources

    if args.beir:
        return read_beir(args.beir)
    cfg = load_retrieval_config(None, [f"data.qd={args.source}", "data.dd=none", *args.set])
    if args.source == "foldoc":
        cfg.data.qd, cfg.data.dd = "none", "foldoc"
        return load_sources(cfg).dd
    return load_sources(cfg).qd


def cmd_train(args) -> int:
    from credo.config import recipe_path
    from credo.retrieval.config import load_retrieval_config
    from credo.retrieval.train import train

    cfg = load_retrieval_config(recipe_path(args.recipe), args.overrides)
    _, evals = train(cfg, resume=args.resume, overwrite=args.overwrite)
    print(json.dumps(evals[-1], indent=1))
    print(f"checkpoint: {Path(cfg.log.output_dir) / 'checkpoint'}")
    return 0


def cmd_index(args) -> int:
    from credo.retrieval.index import FacetIndex, encode_corpus

    model, data = load_model(args.model), _data(args)
    docs = list(data.corpus.values())
    index = FacetIndex(encode_corpus(model, docs, args.batch_size), [d.id for d in docs], model.cfg.facets)
    print(f"indexed {len(docs)} documents → {index.save(args.out)}")
    return 0


def cmd_search(args) -> int:
    import torch

    from credo.retrieval.data import DataError
    from credo.retrieval.index import FacetIndex

    index = FacetIndex.load(args.index)
    model = load_model(args.model)
    if index.facets != list(model.cfg.facets):
        raise DataError(f"index facets {index.facets} differ from the model's {model.cfg.facets}")
    with torch.inference_mode():
        model.eval()
        dev = next(model.parameters()).device
        docs = torch.from_numpy(index.vectors).to(dev)
        if args.like:
            v = torch.from_numpy(index.doc_vectors([args.like])).view(1, model.k + 1, model.dim).to(dev)
            if args.facet and args.facet not in model.cfg.facets:
                raise DataError(f"--facet: unknown facet {args.facet!r}; the model has {model.cfg.facets}")
            if args.facet:
                q = model.facet_query_vectors(v.flatten(1), model.cfg.facets.index(args.facet)).float().cpu().numpy()
                hits = index.search(q, args.top_k, exclude=[args.like])[0]
            else:
                scores = model.dd_scores(v.flatten(1), [None], docs).float().cpu().numpy()
                hits = index.rank(scores, args.top_k, exclude=[args.like])[0]
        else:
            if not args.question.strip():
                raise DataError("give a question, or --like DOC_ID for doc-doc search")
            scores = model.qd_scores(model.encode_questions([args.question]), docs)
            hits = index.rank(scores.float().cpu().numpy(), args.top_k)[0]
    for rank, (doc, score) in enumerate(hits, 1):
        print(json.dumps({"rank": rank, "id": doc, "score": round(score, 4)}))
    return 0


def cmd_eval(args) -> int:
    from credo.retrieval.evaluate import evaluate_bm25, evaluate_model

    data = _data(args)
    if args.bm25:
        res = evaluate_bm25(data, args.split, args.top_k)
    elif args.model:
        res = evaluate_model(load_model(args.model), data, args.split, args.top_k, progress=True)
    else:
        from credo.retrieval.data import DataError

        raise DataError("eval needs --model or --bm25")
    print(json.dumps(res, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch parsed ``credo retrieve ...`` arguments (for the main CLI: ``if args.cmd == "retrieve": run(args)``)."""
    return args.retrieve_fn(args)


def main(argv: list[str] | None = None) -> int:
    """``credo retrieve ...`` through the main CLI (same one-line errors and exit statuses)."""
    from credo.cli import main as credo_main

    return credo_main(argv)


if __name__ == "__main__":
    sys.exit(main())
