"""Joint doc-doc + q-doc training of UniFAR: L = w_dd·InfoNCE_dd + w_qd·InfoNCE_qd + w_kl·KL(p(k|q) ‖ target).

Each step draws ``batch_qd`` (question, positive) and ``batch_dd`` (query document, positive) pairs; candidates are
the batch's positives plus one judged-non-relevant (grade 0) hard negative per query; in-batch documents known to be
relevant to a query (other than its positive) are masked out. KL target (reconstructed): the question's weak facet
label ``meta["facets"]`` when present, else softmax_k(cos(e_q, f_k(d+)) / τ) of its positive (detached).
Ablations: ``model.anchors=false`` · ``model.gate=fixed`` · ``train.w_qd=0`` · ``train.w_dd=0`` · ``train.w_kl=0``.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from credo.models.device import resolve_device
from credo.retrieval.config import RetrievalConfig, to_dict
from credo.retrieval.data import DataError, RetrievalSet
from credo.retrieval.evaluate import evaluate_model
from credo.retrieval.losses import facet_kl, info_nce
from credo.retrieval.model import UniFAR
from credo.train.checkpoint import load_checkpoint_state, save_checkpoint, set_rng_state
from credo.train.metrics import truncate_after
from credo.train.rundir import open_run_dir
from credo.validate import validate


@dataclass
class Sources:
    qd: RetrievalSet | None
    dd: RetrievalSet | None


def load_sources(cfg: RetrievalConfig) -> Sources:
    """Build the q-doc and doc-doc sets named by ``cfg.data`` (a shared synthetic set when both say synthetic)."""
    from credo.retrieval.data import read_beir
    from credo.retrieval.foldoc import load_foldoc
    from credo.retrieval.pubmedqa import load_pubmedqa
    from credo.retrieval.synthetic import make_synthetic
    from credo.retrieval.synthetic_cued import make_cued_synthetic

    d = cfg.data
    cache: dict[str, RetrievalSet] = {}

    def get(name: str) -> RetrievalSet | None:
        if name == "none":
            return None
        if name not in cache:
            if name == "synthetic":
                cache[name] = make_synthetic(
                    d.synthetic_docs,
                    d.synthetic_topics,
                    d.synthetic_questions,
                    test_fraction=d.test_fraction,
                    seed=d.seed,
                )
            elif name == "synthetic_cued":
                cache[name] = make_cued_synthetic(d.synthetic_docs, d.synthetic_topics, d.synthetic_questions,
                                                  test_fraction=d.test_fraction, seed=d.seed)
            elif name == "pubmedqa":
                cache[name] = load_pubmedqa(size=d.pubmedqa_size, test_fraction=d.test_fraction, seed=d.seed)
            elif name == "foldoc":
                cache[name] = load_foldoc(
                    d.foldoc_dir, d.foldoc_max_docs, d.test_fraction, d.foldoc_min_links, d.seed, d.foldoc_colinks
                )
            elif name.startswith("beir:"):
                cache[name] = read_beir(name[5:])
            else:
                raise DataError(f"unknown data source {name!r}: synthetic | synthetic_cued | pubmedqa | foldoc | "
                                "beir:DIR | none")
        return cache[name]

    return Sources(get(d.qd), get(d.dd))


def _pool(data: RetrievalSet | None, kind: str) -> list[tuple[str, list[str], list[str]]]:
    if data is None or "train" not in data.qrels:
        return []
    out = []
    for q, rel in data.split("train", kind).items():
        pos = [d for d, g in rel.items() if g > 0]
        if pos:
            out.append((q, pos, [d for d, g in rel.items() if g <= 0]))
    return out


def _candidates(data, batch, rng, hard: bool) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """→ candidate doc ids, labels (B,), mask (B, N) of known-relevant candidates."""
    cands = [rng.choice(pos) for _, pos, _ in batch]
    if hard:
        cands += [rng.choice(neg) for _, _, neg in batch if neg]
    rel = [data.qrels["train"][q] for q, _, _ in batch]
    mask = torch.tensor([[r.get(c, 0) > 0 for c in cands] for r in rel])
    return cands, torch.arange(len(batch)), mask


def _facet_target(model: UniFAR, data: RetrievalSet, qids: list[str], f_pos: torch.Tensor, e: torch.Tensor):
    rows = []
    for i, q in enumerate(qids):
        w = data.queries[q].meta.get("facets")
        if w and any(f in w for f in model.cfg.facets):
            t = torch.tensor([float(w.get(f, 0.0)) for f in model.cfg.facets])
            rows.append(t / t.sum())
        else:
            sim = F.cosine_similarity(e[i].detach().unsqueeze(0), f_pos[i].detach(), dim=-1)
            rows.append(torch.softmax(sim / model.cfg.tau, -1).cpu())
    return torch.stack(rows).to(e.device)


@torch.no_grad()
def batch_stats(model: UniFAR, q: dict[str, torch.Tensor] | None, qd_vecs: torch.Tensor | None,
                dd_vecs: torch.Tensor | None, b_dd: int = 0) -> dict[str, float]:
    """Gate and facet statistics of one batch: mean gate β on (query, positive) pairs (``gate_qd``: question → its
    positive, ``gate_dd``: query document → its positive), the questions' facet distribution p(k|q) (mean
    ``facet_p/<facet>``, normalised entropy ``facet_entropy``: 1 = uniform, 0 = one facet)."""
    out: dict[str, float] = {}
    if q is not None and qd_vecs is not None:
        g, _ = model.split_vectors(qd_vecs)
        b = q["e"].shape[0]
        out["gate_qd"] = float(torch.diagonal(model.gate_value(q["e"], g[:b], 0)).mean())
        p = q["p"].float()
        out |= {f"facet_p/{f}": float(v) for f, v in zip(model.cfg.facets, p.mean(0).tolist())}
        ent = -(p * p.clamp_min(1e-12).log()).sum(-1) / math.log(max(p.shape[-1], 2))
        out["facet_entropy"] = float(ent.mean())
    if dd_vecs is not None and b_dd:
        g, _ = model.split_vectors(dd_vecs)
        out["gate_dd"] = float(torch.diagonal(model.gate_value(g[:b_dd], g[b_dd:2 * b_dd], 1)).mean())
    return out


def train_step(model, src: Sources, cfg: RetrievalConfig, rng: random.Random, pools,
               stats: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """The weighted loss terms of one batch; ``stats``, when given, receives :func:`batch_stats`."""
    t = cfg.train
    q = qd_vecs = dd_vecs = None
    b_dd = 0
    losses: dict[str, torch.Tensor] = {}
    qpool, dpool = pools
    if t.w_qd > 0 and qpool:
        batch = rng.sample(qpool, min(t.batch_qd, len(qpool)))
        cands, labels, mask = _candidates(src.qd, batch, rng, t.hard_negatives)
        d = model.encode_docs([src.qd.corpus[c].units() for c in cands])
        q = model.encode_questions([src.qd.queries[x].text for x, _, _ in batch])
        qd_vecs = model.doc_vectors(d)
        scores = model.qd_scores(q, qd_vecs)
        losses["qd"] = info_nce(scores, labels.to(scores.device), t.temperature, mask.to(scores.device))
        if t.w_kl > 0 and model.cfg.anchors:
            target = _facet_target(model, src.qd, [x for x, _, _ in batch], d["f"][: len(batch)], q["e"])
            losses["kl"] = facet_kl(q["p"], target)
    if t.w_dd > 0 and dpool:
        batch = rng.sample(dpool, min(t.batch_dd, len(dpool)))
        cands, labels, mask = _candidates(src.dd, batch, rng, t.hard_negatives)
        qs = [src.dd.queries[x] for x, _, _ in batch]
        d = model.encode_docs([src.dd.corpus[c].units() for c in [q.query_doc for q in qs] + cands])
        b = len(batch)
        facets = [
            model.cfg.facets.index(q.meta["facet"]) if q.meta.get("facet") in model.cfg.facets else None for q in qs
        ]
        dd_vecs, b_dd = model.doc_vectors(d), b
        scores = model.dd_scores(dd_vecs[:b], facets, dd_vecs[b:])
        losses["dd"] = info_nce(scores, labels.to(scores.device), t.temperature, mask.to(scores.device))
    if stats is not None:
        stats.update(batch_stats(model, q, qd_vecs, dd_vecs, b_dd))
    return losses


def train(
    cfg: RetrievalConfig,
    src: Sources | None = None,
    model: UniFAR | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> tuple[UniFAR, list[dict]]:
    """Train, evaluating before/after (and every ``eval.every`` steps); writes metrics.jsonl, config.yaml,
    ``checkpoints/step_N/`` every ``log.save_every`` steps and the final ``checkpoint/`` under ``log.output_dir``.
    ``resume`` continues from the latest ``checkpoints/step_N/`` (model, optimizer, batching and torch RNG) and
    reproduces the uninterrupted run exactly; a folder that holds an earlier run needs ``resume`` or ``overwrite``
    (see ``credo.train.rundir``). Returns the model and the list of eval records."""
    validate(cfg)
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)
    rng = random.Random(t.seed)
    out = Path(cfg.log.output_dir)
    lock, ckpt = open_run_dir(out, resume, overwrite)
    state = load_checkpoint_state(ckpt) if ckpt else None  # a bad or old state is refused before any model loads
    src = src or load_sources(cfg)
    pools = (_pool(src.qd, "question"), _pool(src.dd, "document"))
    if not (pools[0] and t.w_qd > 0) and not (pools[1] and t.w_dd > 0) and t.steps > 0:
        raise DataError("nothing to train on: no q-doc or doc-doc training queries with a positive weight")
    model = UniFAR.load(ckpt / "model") if ckpt else model or UniFAR.from_encoder(cfg.model)
    model.to(resolve_device(t.device))
    (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": t.lr}, {"params": head, "lr": t.head_lr}])
    evals: list[dict] = []
    start = 0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["batch_rng"])
        set_rng_state(state["rng"])
        start, evals = state["step"], state["evals"]
    log = _open_log(out / "metrics.jsonl", start if ckpt else None)

    def run_eval(step: int) -> None:
        rec: dict = {"step": step, "kind": "eval"}
        for name, data in (("qd", src.qd), ("dd", src.dd)):
            if data is not None and (name == "qd" or src.dd is not src.qd):
                r = evaluate_model(model, data, "test", cfg.eval.top_k, cfg.eval.batch_size, cfg.log.progress)
                rec.update({f"{data.name}/{g}/{m}": v for g, ms in r.items() for m, v in ms.items()})
        evals.append(rec)
        log.write(json.dumps(rec) + "\n")
        log.flush()

    if cfg.eval.before and not ckpt:
        run_eval(0)
    model.train()
    t0 = time.time()
    for step in range(start + 1, t.steps + 1):
        stats: dict[str, float] = {}
        losses = train_step(model, src, cfg, rng, pools, stats)
        loss = sum({"qd": t.w_qd, "dd": t.w_dd, "kl": t.w_kl}[k] * v for k, v in losses.items())
        opt.zero_grad()
        loss.backward()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        opt.step()
        rec = {"step": step, "kind": "train", "loss": float(loss.detach()), "time_s": round(time.time() - t0, 2)}
        rec.update({f"loss_{k}": float(v.detach()) for k, v in losses.items()} | stats)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if cfg.eval.every and step % cfg.eval.every == 0 and step < t.steps:
            run_eval(step)
        if cfg.log.save_every and step % cfg.log.save_every == 0 and step < t.steps:
            state = {"optimizer": opt.state_dict(), "batch_rng": rng.getstate(), "evals": evals}
            save_checkpoint(out, step, {"model": model}, {}, state, keep_last=cfg.log.keep_last)
    if t.steps > start:
        run_eval(t.steps)
    log.close()
    model.save(out / "checkpoint")
    if cfg.log.report:
        from credo.retrieval.report import write_retrieval_report

        write_retrieval_report(out)
    lock.release()
    return model, evals


def _open_log(path: Path, resume_step: int | None):
    """metrics.jsonl for appending; on resume, first drop the rows written after the checkpoint's step (and a torn
    last line, with a warning)."""
    if resume_step is None or not path.is_file():
        return path.open("w")
    truncate_after(path, resume_step)
    return path.open("a")
