"""``report.html`` of a retrieval run (``credo retrieve train``), from its ``metrics.jsonl``.

Train rows carry ``loss``, ``loss_{qd,dd,kl}``, ``gate_qd``/``gate_dd``, ``facet_p/<facet>``, ``facet_entropy`` and
``time_s``; eval rows (``kind: eval``) carry ``<data>/<group>/<metric>`` (Recall@5/@20, MAP, nDCG@10 of the test
queries of each query group). The summary gives each group's MAP and Recall before → after training.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from credo.train.metrics import read_metrics
from credo.train.report import load_run_config
from credo.train.report_parts import Section, Spec, duration, fmt, series, table, write_page

_METRIC = re.compile(r"(.+)/([^/]+)/([^/]+)")


def _eval_keys(rows: list[dict]) -> dict[str, list[str]]:
    """``<data>/<group>`` → its metric keys, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r.get("kind") != "eval":
            continue
        for k in r:
            if (m := _METRIC.fullmatch(k)) and isinstance(r[k], int | float):
                keys = groups.setdefault(f"{m.group(1)}/{m.group(2)}", [])
                if k not in keys:
                    keys.append(k)
    return groups


def write_retrieval_report(run_dir: Path, title: str | None = None) -> Path:
    """Read ``run_dir/metrics.jsonl`` (and ``config.yaml``); write and return ``run_dir/report.html``."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")
    cfg = load_run_config(run_dir)
    train = [r for r in rows if r.get("kind") == "train"]
    evals = [r for r in rows if r.get("kind") == "eval"]
    groups = _eval_keys(rows)
    items = []
    for keys in groups.values():
        for k in keys:
            if k.rsplit("/", 1)[1].lower().startswith(("map", "recall")):
                steps, vals = series(evals, k)
                items.append((f"{k} (test queries)", f"{fmt(vals[0])} (step {steps[0]}) → {fmt(vals[-1])} "
                                                     f"(step {steps[-1]})" if len(vals) > 1 else fmt(vals[0])))
    losses = series(train, "loss")[1]
    if losses:
        w = max(1, len(losses) // 10)
        items.insert(0, (f"Optimised: training loss (w_dd·InfoNCE_dd + w_qd·InfoNCE_qd + w_kl·KL), mean of the first "
                         f"→ last {w} step(s)", f"{fmt(sum(losses[:w]) / w)} → {fmt(sum(losses[-w:]) / w)}"))
    items.append(("Training steps", str(len(train))))
    times = series(train, "time_s")[1]
    items.append(("Training time (wall, excluding evaluations before training)",
                  duration(times[-1]) if times else "not logged"))
    facets = (cfg.get("model") or {}).get("facets") or sorted(
        {k.split("/", 1)[1] for r in train for k in r if k.startswith("facet_p/")})
    loss = Section("Training", group="train")
    loss.add(train, Spec("Losses", ["loss", "loss_qd", "loss_dd", "loss_kl"]))
    loss.add(train, Spec("Gate β on (query, positive) pairs", ["gate_qd", "gate_dd"],
                         flat=f"model.gate = {(cfg.get('model') or {}).get('gate', '?')}",
                         labels={"gate_qd": "question → document", "gate_dd": "document → document"}))
    loss.add(train, Spec("Question facet distribution p(k|q), batch mean", [f"facet_p/{f}" for f in facets],
                         flat="model.anchors = false: uniform", labels={f"facet_p/{f}": f for f in facets}))
    loss.add(train, Spec("Facet entropy (1 = uniform, 0 = one facet)", ["facet_entropy"],
                         flat="model.anchors = false: uniform"))
    sections = [loss]
    ev = Section("Held-out retrieval (test queries)", group="eval")
    for group, keys in groups.items():
        ev.add(evals, Spec(group, keys, labels={k: k.rsplit("/", 1)[1] for k in keys}))
    sections.append(ev)
    lead = html.escape(f"Retrieval run (UniFAR): q-doc data {(cfg.get('data') or {}).get('qd', '?')}, doc-doc data "
                       f"{(cfg.get('data') or {}).get('dd', '?')}; {len(evals)} evaluations.")
    return write_page(run_dir / "report.html", title or run_dir.resolve().name, lead, table(items), sections, rows,
                      run_dir / "config.yaml")
