"""Short real runs of every RL trainer through the CLI: each report's panels hold data, the summary leads with what
was optimised and labels decoding modes, and a multi-agent report has one panel group per agent."""

import json

import pytest
from report_html import assert_every_panel_has_data, parse_report

from credo.cli import main

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "task.size=32", "task.eval_size=4", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=4",
        "sft.steps=2", "sft.batch_size=4", "eval.size=4", "eval.pass_k=2", "eval.every=1", "train.steps=3",
        "log.tensorboard=false", "log.progress=false", "train.threads=1"]
RECIPES = {"grpo": [], "ccpo_think_reason": ["multi.period=1"], "ccpo_voting": [], "dacr_are": [],
           "hacpo": []}
AGENTS = {"ccpo_think_reason": {"thinker", "solver"}, "ccpo_voting": {"voter1", "voter2", "voter3"},
          "dacr_are": {"p", "q"}, "hacpo": {"small", "large"}}


@pytest.fixture(scope="module", params=list(RECIPES))
def run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "run"
    assert main(["train", request.param, *TINY, *RECIPES[request.param], f"log.output_dir={out}"]) == 0
    return request.param, out


def test_every_panel_of_a_short_run_has_data(run):
    recipe, out = run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    report = parse_report(out / "report.html")
    assert_every_panel_has_data(report)
    for panel in report.panels:  # every plotted key was logged and varies
        for key in panel.keys:
            values = {r[key] for r in rows if isinstance(r.get(key), int | float)}
            assert len(values) >= 2, (panel.title, key, values)
    titles = [p.title for p in report.panels]
    assert len(titles) == len(set(titles))
    summary = dict(report.summary)
    first = next(iter(summary))
    assert first.startswith("Optimised:") and "sampled at T = 1.0" in first
    assert any(k.startswith("Held-out accuracy") and "greedy" in k for k in summary)
    assert "Wall time" in " ".join(summary) and "s (0h" in next(v for k, v in summary.items() if "Wall" in k)
    if recipe == "grpo":
        assert any("sampled (pass@1 at T = 1.0" in k for k in summary) and any("pass@2" in k for k in summary)
        assert any("ratio ≡ 1" in n for n in report.notes)  # one update per batch: clip fraction explained


def test_multi_agent_report_has_one_panel_group_per_agent(run):
    recipe, out = run
    if recipe not in AGENTS:
        pytest.skip("single policy: no agent groups")
    report = parse_report(out / "report.html")
    agents = AGENTS[recipe]
    assert agents <= set(report.groups) and "credit" in report.groups
    assert len([g for g in report.groups if g in agents]) == len(agents)  # one group per agent
    for name in agents:
        mine = [p for p in report.panels if p.group == name]
        assert any("length" in p.title for p in mine), (name, [p.title for p in mine])
        assert all(p.title.startswith(f"{name}:") for p in mine)
        assert all(any(name in k for k in p.keys) for p in mine)
