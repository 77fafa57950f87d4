"""A retrieval run writes report.html: losses, gate and facet statistics, MAP/Recall per evaluation."""

import json
import sys
from pathlib import Path

from credo.retrieval.config import load_retrieval_config
from credo.retrieval.train import Sources, train

sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
from report_html import assert_every_panel_has_data, parse_report  # noqa: E402


def test_retrieval_run_writes_a_report_with_data_in_every_panel(tiny_dir, small_synth, tmp_path):
    cfg = load_retrieval_config(None, [f"model.path={tiny_dir}", "train.steps=6", "eval.every=2", "train.lr=3e-3",
                                       "train.head_lr=1e-2", "model.max_length=64", "log.progress=false",
                                       f"log.output_dir={tmp_path}"])
    train(cfg, Sources(small_synth, small_synth))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    stats = [r for r in rows if r["kind"] == "train"]
    assert all(0.0 < r["gate_qd"] < 1.0 and 0.0 < r["gate_dd"] < 1.0 for r in stats)
    assert all(abs(sum(r[f"facet_p/{f}"] for f in ("background", "method", "result")) - 1.0) < 1e-5 for r in stats)
    assert all(0.0 <= r["facet_entropy"] <= 1.0 for r in stats)
    report = parse_report(tmp_path / "report.html")
    assert_every_panel_has_data(report)
    titles = {p.title for p in report.panels}
    assert {"Losses", "Gate β on (query, positive) pairs", "Question facet distribution p(k|q), batch mean"} <= titles
    evals = [p for p in report.panels if p.group == "eval"]
    assert evals and all(any(k.endswith("/map") for k in p.keys) for p in evals)
    assert [r for r in rows if r["kind"] == "eval"][0]["step"] == 0 and len(evals[0].keys) >= 2
    summary = dict(report.summary)
    assert next(iter(summary)).startswith("Optimised: training loss")
    assert any(k.endswith("/map (test queries)") and "→" in v for k, v in summary.items())
