import base64
import json
import re

import pytest
import yaml
from report_html import assert_every_panel_has_data, parse_report

from credo.train.report import write_eval_report, write_report
from credo.train.report_parts import series

N_STEPS = 12
CONFIG = {"sampling": {"temperature": 0.7}, "eval": {"pass_k": 4, "size": 50}, "train": {"epochs": 1,
          "mini_batches": 1}, "algo": {"advantage": "grpo", "kl_coef": 0.0}, "task": {"name": "toy"},
          "model": {"path": "embedded  # <tiny> & fast"}}


def _write(run_dir, rows, config=CONFIG, tail=""):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)
    if config is not None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def _train_row(s):
    return {"step": s, "reward/mean": 0.1 * s, "reward/score_mean": 0.1 * s, "response/length_mean": 100.0 + s,
            "actor/clipfrac": 0.0, "actor/clipfrac_low": 0.0, "actor/clipfrac_high": 0.0, "actor/ppo_kl": 0.0,
            "actor/entropy": 2.0 - 0.05 * s, "timing/generate": 1.5 + 0.01 * s, "timing/update": 0.5,
            "timing/step": 2.25, "timing/elapsed_s": 10.0 + 2.5 * s, "perf/generated_tokens_per_s": 1000.0 + s}


def _full_rows():
    # step 0 as the trainer logs it: pre-training eval + SFT warm-start summary, not a training step
    rows = [{"step": 0, "eval/accuracy": 0.125, "eval/sampled_accuracy": 0.1, "eval/pass@4": 0.25,
             "sft/loss_first": 2.5, "sft/loss_last": 0.75, "timing/elapsed_s": 9.0}]
    for s in range(1, N_STEPS + 1):
        rows.append(_train_row(s))
        if s in (6, 12):  # sparse eval rows share the step of a training row
            acc = {6: 0.625, 12: 0.5}[s]
            rows.append({"step": s, "eval/accuracy": acc, "eval/sampled_accuracy": acc - 0.1, "eval/pass@4": acc + 0.1,
                         "eval/length_mean": 80.0 + s, "timing/elapsed_s": 10.0 + 2.5 * s + 1})
    return rows


def _images(page):
    return re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)


def _assert_self_contained(page):
    without_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert "http" not in without_data.lower()
    assert not re.search(r"""(src|href)\s*=\s*(?!["']?data:image/png;base64,)""", page)
    assert "@import" not in page and "url(" not in page


def test_report_full_run(tmp_path):
    run = tmp_path / "run-a"
    _write(run, _full_rows())
    (run / "checkpoints" / "step_000006" / "trainer").mkdir(parents=True)
    (run / "checkpoints" / "step_000006" / "trainer" / "state.json").write_text("{}")
    out = write_report(run, title="My <run>")
    assert out == run / "report.html"
    page = out.read_text()
    report = parse_report(out)
    assert_every_panel_has_data(report)
    for b64 in _images(page):
        assert b"http" not in base64.b64decode(b64)  # no matplotlib URL in the PNG metadata
    _assert_self_contained(page)
    assert "<title>My &lt;run&gt;</title>" in page and "# &lt;tiny&gt; &amp; fast" in page
    panels = {p.title: p.keys for p in report.panels}
    # reward/score_mean repeats reward/mean: one curve, and the panel says so
    assert panels["Training reward (sampled rollouts)"] == ["reward/mean"]
    assert "reward/score_mean is identical to reward/mean" in page
    assert panels["Held-out accuracy"] == ["eval/accuracy", "eval/sampled_accuracy", "eval/pass@4"]
    assert panels["Response length"] == ["response/length_mean", "eval/length_mean"]
    assert panels["Step time by phase"] == ["timing/generate"]  # timing/update is constant: noted, not drawn
    assert set(panels) == {"Training reward (sampled rollouts)", "Held-out accuracy", "Response length", "Entropy",
                           "Step time by phase", "Throughput"}
    flat = "\n".join(report.notes)
    assert "actor/clipfrac ≡ 0.0000 (one update per batch: ratio ≡ 1, nothing to clip)" in flat
    assert "actor/ppo_kl ≡ 0.0000" in flat and "algo.kl_coef = 0" in flat
    assert "Gradient norm" not in page  # never logged: no panel, no note
    summary = report.summary
    assert summary[0] == ["Optimised: training reward (the task verifier's score), sampled at T = 0.7, mean of the "
                          "first → last 1 step(s)", "0.100 → 1.200"]
    s = dict(summary)
    assert s["Held-out accuracy, greedy (50 prompts, exact: score = 1)"] == "0.125 (step 0) → 0.500 (step 12)"
    assert s["Held-out accuracy, sampled (pass@1 at T = 0.7, mean of 4 draws per prompt)"] == \
        "0.100 (step 0) → 0.400 (step 12)"
    assert s["Held-out pass@4, sampled (4 draws at T = 0.7)"] == "0.250 (step 0) → 0.600 (step 12)"
    assert s["Best evaluation (greedy)"] == "step 6: greedy held-out accuracy 0.625; saved as checkpoints/step_000006/"
    assert s["Training steps"] == str(N_STEPS)  # eval rows are not extra steps
    assert s["Wall time (from building the trainer; SFT warm start included)"] == "41.0 s (0h 00m 41s)"
    assert s["SFT warm-start loss"] == "2.500 → 0.750"
    assert not any("Verifier score" in k for k in s)  # the reward is the verifier score


def test_wall_time_adds_resumed_segments_and_falls_back_to_labelled_step_sum(tmp_path):
    rows = [{"step": s, "reward/mean": s, "timing/elapsed_s": 5.0 * s} for s in (1, 2)]
    rows += [{"step": s, "reward/mean": s, "timing/elapsed_s": 3.0 * (s - 2)} for s in (3, 4)]  # resumed process
    _write(tmp_path / "a", rows)
    assert dict(parse_report(write_report(tmp_path / "a")).summary)[
        "Wall time (from building the trainer; SFT warm start included)"] == "16.0 s (0h 00m 16s)"
    _write(tmp_path / "b", [{"step": s, "reward/mean": s, "timing/step": 1.5} for s in (1, 2)], config=None,
           tail='{"step": 3, "timing/gen')
    with pytest.warns(UserWarning, match="corrupt final line"):
        page = write_report(tmp_path / "b")
    assert "3.0 s (0h 00m 03s), sum of step times (wall time not logged)" in page.read_text()


def test_report_empty_metrics(tmp_path):
    _write(tmp_path, [], config=None)
    report = parse_report(write_report(tmp_path))
    assert report.panels == [] and dict(report.summary)["Optimised: training reward"] == "not logged"


def test_series_keeps_only_rows_with_the_key():
    rows = [{"step": 1, "a": 1.0}, {"step": 1, "b": 5}, {"step": 2, "a": None}, {"step": 3, "a": 3}]
    assert series(rows, "a") == ([1, 3], [1.0, 3.0])
    assert series(rows, "missing") == ([], [])


def test_multi_agent_report_groups_panels_per_agent(tmp_path):
    cfg = {"multi": {"workflow": "think_reason", "credit": "v1", "schedule": "simultaneous",
                     "agents": [{"name": "thinker"}, {"name": "solver"}]}, "sampling": {"temperature": 1.0}}
    rows = [{"step": 0, "eval/accuracy": 0.1, "eval/lazy_gap": 0.05, "eval/team_accuracy": 0.1}]
    for s in range(1, 5):
        rows.append({"step": s, "reward/mean": 0.2 * s, "reward/score_mean": 0.1, "ccpo/help_rate": 0.1 * s,
                     "ccpo/gate": 0.5 + 0.01 * s, "thinker/think/reward_mean": 0.3 * s,
                     "thinker/think/adv_mean": 1e-17 * s, "thinker/think/length_mean": 10.0 + s,
                     "solver/solve/reward_mean": 0.1 * s, "solver/solve/length_mean": 5.0 - s,
                     "solver/actor/entropy": 1.0 / s, "schedule/thinker": 1.0, "schedule/solver": 1.0})
    rows.append({"step": 4, "eval/accuracy": 0.3, "eval/lazy_gap": 0.2, "eval/team_accuracy": 0.3})
    _write(tmp_path, rows, config=cfg)
    report = parse_report(write_report(tmp_path))
    assert_every_panel_has_data(report)
    assert report.groups == ["run", "credit", "thinker", "solver"]
    by_group = {g: {p.title: p.keys for p in report.panels if p.group == g} for g in report.groups}
    assert by_group["thinker"] == {"thinker: training reward by role": ["thinker/think/reward_mean"],
                                   "thinker: response length by role": ["thinker/think/length_mean"]}
    assert by_group["solver"]["solver: entropy"] == ["solver/actor/entropy"]
    assert by_group["credit"]["CCPO: Solver gate"] == ["ccpo/gate"]
    assert by_group["credit"]["Lazy-agent check (held-out, greedy)"] == ["eval/team_accuracy", "eval/lazy_gap"]
    notes = "\n".join(report.notes)
    assert "thinker/think/adv_mean ≡ 0.0000 (group-normalised per (agent, role))" in notes  # 1e-17: rounding
    assert "schedule/solver ≡ 1.0000 (multi.schedule = simultaneous)" in notes
    s = dict(report.summary)
    assert next(iter(s)).startswith("Optimised: credited reward of the updated agents' turns (multi.credit = v1)")
    assert s["Held-out accuracy, team, greedy (? prompts, exact: score = 1)"] == "0.100 (step 0) → 0.300 (step 4)"
    assert s["Lazy-agent gap, greedy (team − Solver with the Thinker removed)"] == "0.050 (step 0) → 0.200 (step 4)"
    assert "Verifier score of the training samples (sampled at T = 1.0), first → last 1 step(s)" in s


def test_report_sft_only_run(tmp_path):
    _write(tmp_path, [{"step": s, "sft/loss": 3.0 / s, "sft/lr": 1e-4} for s in range(1, 6)], config=None)
    report = parse_report(write_report(tmp_path))
    assert [p.title for p in report.panels] == ["SFT loss"] and dict(report.summary)["Training steps"] == "0"
    assert report.summary[0] == ["Optimised: SFT loss on the gold answers (sft/loss), mean of the first → last 1 "
                                 "step(s)", "3.000 → 0.600"]


def test_eval_report(tmp_path):
    metrics = {"eval/accuracy": 0.5, "eval/score_mean": 0.6, "eval/length_mean": 7.0, "eval/pass@4": 0.75,
               "eval/sampled_accuracy": 0.4}
    out = write_eval_report(tmp_path / "ev", metrics, CONFIG, "runs/x/policy")
    assert json.loads((tmp_path / "ev" / "eval.json").read_text()) == {"model": "runs/x/policy", **metrics}
    report = parse_report(out)
    assert_every_panel_has_data(report)
    s = dict(report.summary)
    assert s["accuracy, greedy"] == "0.500" and s["pass@4, sampled at T = 0.7"] == "0.750"
    assert s["accuracy, sampled (pass@1 at T = 0.7, mean of 4 draws)"] == "0.400"
    assert report.panels[0].keys == ["eval/accuracy", "eval/score_mean", "eval/pass@4", "eval/sampled_accuracy"]
