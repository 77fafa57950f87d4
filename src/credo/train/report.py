"""``report.html`` of an RL run (single policy or several agents) and of ``credo eval``, from ``metrics.jsonl``.

The summary leads with what the run optimised (the training reward on sampled rollouts), then held-out accuracy in
greedy and sampled decoding, pass@k, the best evaluation and where its checkpoint is, steps and wall time; every
number names its decoding mode. Panels follow (``credo.train.report_parts``): run-level curves, team-level credit
curves, then one group per agent (``data-group`` = the agent's name) with its reward, advantage, length, update and
credit curves per role. Metrics that were not logged or are constant are listed with one line each instead of drawn.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import yaml

from credo.train.checkpoint import list_checkpoints
from credo.train.metrics import METRICS_FILE, read_metrics
from credo.train.report_agents import agent_sections, credit_section
from credo.train.report_parts import Section, Spec, bar_panel, duration, fmt, series, table, write_page


def load_run_config(run_dir: Path) -> dict:
    """``config.yaml`` of a run as a plain dict ({} when absent or unreadable)."""
    try:
        return yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _get(cfg: dict, dotted: str, default=None):
    for part in dotted.split("."):
        if not isinstance(cfg, dict) or part not in cfg:
            return default
        cfg = cfg[part]
    return cfg


def wall_time(rows: list[dict]) -> str:
    """Wall time from ``timing/elapsed_s`` (seconds since the process began; it restarts when a run is resumed, so
    each segment's last value is added); older runs without it: the sum of the logged step times, labelled so."""
    total, last = 0.0, None
    for r in rows:
        v = r.get("timing/elapsed_s")
        if isinstance(v, int | float):
            if last is not None and v < last:
                total += last
            last = float(v)
    if last is not None:
        return duration(total + last)
    steps = series(rows, "timing/step")[1]
    return f"{duration(sum(steps))}, sum of step times (wall time not logged)" if steps else "not logged"


def _before_after(rows: list[dict], key: str) -> str:
    steps, vals = series(rows, key)
    if not vals:
        return ""
    if len(vals) == 1:
        return f"{fmt(vals[0])} (step {steps[0]})"
    return f"{fmt(vals[0])} (step {steps[0]}) → {fmt(vals[-1])} (step {steps[-1]})"


def _reward_text(cfg: dict) -> str:
    funcs = _get(cfg, "reward.functions") or []
    if not funcs:
        return "the task verifier's score"
    names = [f["name"] if isinstance(f, dict) else str(f) for f in funcs]
    return "weighted sum of " + ", ".join(names)


def _best_checkpoint(run_dir: Path, rows: list[dict], key: str, mode: str) -> str:
    steps, vals = series(rows, key)
    if not vals:
        return "no held-out evaluation"
    i = max(range(len(vals)), key=lambda j: (vals[j], steps[j]))  # ties: the later one
    step = steps[i]
    saved = dict(list_checkpoints(run_dir))
    where = f"{saved[step].relative_to(run_dir)}/" if step in saved else None
    if where is None and step == max(r["step"] for r in rows):
        where = next((f"{name}/" for name in ("policy", "agents") if (run_dir / name).is_dir()), "the final policy")
    return (f"step {step}: {mode} held-out accuracy {fmt(vals[i])}; "
            + (f"saved as {html.escape(where)}" if where else "no checkpoint saved at that step (log.save_every)"))


def summary(run_dir: Path, rows: list[dict], cfg: dict, agents: list[str] = ()) -> str:
    """The summary table of an RL run (HTML); ``agents`` adds each agent's held-out accuracy."""
    temp = _get(cfg, "sampling.temperature", "?")
    k = _get(cfg, "eval.pass_k", 0)
    n_eval = _get(cfg, "eval.size", "?")
    train = [r for r in rows if "reward/mean" in r]
    rewards, scores = series(train, "reward/mean")[1], series(train, "reward/score_mean")[1]
    credit = _get(cfg, "multi.credit") if _get(cfg, "multi.workflow") else None
    what = (f"credited reward of the updated agents' turns (multi.credit = {credit})" if credit
            else f"training reward ({_reward_text(cfg)})")
    items = []
    w = max(1, len(rewards) // 10)
    if rewards:
        items.append((f"Optimised: {what}, sampled at T = {temp}, mean of the first → last {w} step(s)",
                      f"{fmt(sum(rewards[:w]) / w)} → {fmt(sum(rewards[-w:]) / w)}"))
    elif sft := series(rows, "sft/loss")[1]:  # credo sft / --wmss runs
        w = max(1, len(sft) // 10)
        items.append((f"Optimised: SFT loss on the gold answers (sft/loss), mean of the first → last {w} step(s)",
                      f"{fmt(sum(sft[:w]) / w)} → {fmt(sum(sft[-w:]) / w)}"))
    else:
        items.append(("Optimised: training reward", "not logged"))
    if scores and scores != rewards:
        items.append((f"Verifier score of the training samples (sampled at T = {temp}), first → last {w} step(s)",
                      f"{fmt(sum(scores[:w]) / w)} → {fmt(sum(scores[-w:]) / w)}"))
    team = {"": "", "hacpo": ", mean of the agents alone"}.get(_get(cfg, "multi.workflow") or "", ", team")
    evals = {
        "eval/accuracy": f"Held-out accuracy{team}, greedy ({n_eval} prompts, exact: score = 1)",
        **{f"eval/{a}/accuracy": f"Held-out accuracy, agent {a}, greedy" for a in agents},
        "eval/lazy_gap": "Lazy-agent gap, greedy (team − Solver with the Thinker removed)",
        "eval/sampled_accuracy": f"Held-out accuracy, sampled (pass@1 at T = {temp}, mean of {k} draws per prompt)",
        f"eval/pass@{k}": f"Held-out pass@{k}, sampled ({k} draws at T = {temp})",
        "eval/score_mean": "Held-out verifier score, greedy (partial credit)",
        "eval/reward_mean": "Held-out training reward, greedy",
    }
    acc = series(rows, "eval/accuracy")[1]
    for key, label in evals.items():
        text = _before_after(rows, key)
        if key == "eval/score_mean" and series(rows, key)[1] == acc:
            continue  # no partial credit: the same numbers as exact accuracy
        if key == "eval/reward_mean" and series(rows, key)[1] in (acc, series(rows, "eval/score_mean")[1]):
            continue
        if text:
            items.append((label, text))
        elif key == "eval/sampled_accuracy" and acc:
            items.append((label, "not measured (eval.pass_k = 0, or the workflow evaluates greedily only)"))
    if acc:
        items.append(("Best evaluation (greedy)", _best_checkpoint(run_dir, rows, "eval/accuracy", "greedy")))
    steps = sorted({r["step"] for r in train})
    items.append(("Training steps", str(len(steps))))
    items.append(("Wall time (from building the trainer; SFT warm start included)", wall_time(rows)))
    sft = next((r for r in rows if "sft/loss_first" in r), None)
    if sft is not None:
        items.append(("SFT warm-start loss", f"{fmt(sft['sft/loss_first'])} → {fmt(sft.get('sft/loss_last'))}"))
    return table(items)


def run_sections(rows: list[dict], cfg: dict) -> list[Section]:
    """Run-level panels: reward, held-out accuracy, length, the update's health, time."""
    keys = sorted({k for r in rows for k in r})
    pass_at = sorted((k for k in keys if re.fullmatch(r"eval/pass@\d+", k)), key=lambda k: int(k.split("@")[1]))
    temp = _get(cfg, "sampling.temperature", "?")
    one_update = (_get(cfg, "train.epochs", 1) == 1 and _get(cfg, "train.mini_batches", 1) == 1)
    ratio = "one update per batch: ratio ≡ 1, nothing to clip" if one_update else ""
    kl = "algo.kl_coef = 0: no KL penalty" if not _get(cfg, "algo.kl_coef", 0) else ""
    s = Section("Training", group="run")
    s.add(rows, Spec("Training reward (sampled rollouts)", ["reward/mean", "reward/score_mean"],
                     labels={"reward/mean": "reward (optimised)", "reward/score_mean": "verifier score"}))
    s.add(rows, Spec("Held-out accuracy", ["eval/accuracy", "eval/sampled_accuracy", *pass_at],
                     labels={"eval/accuracy": "greedy", "eval/sampled_accuracy": f"sampled, pass@1 at T = {temp}",
                             **{p: f"{p.removeprefix('eval/')} at T = {temp}" for p in pass_at}}))
    s.add(rows, Spec("Response length", ["response/length_mean", "eval/length_mean"], "tokens",
                     labels={"response/length_mean": "training (sampled)", "eval/length_mean": "held-out (greedy)"}))
    s.add(rows, Spec("Entropy", ["actor/entropy"]))
    s.add(rows, Spec("Clip fraction", ["actor/clipfrac", "actor/clipfrac_low", "actor/clipfrac_high"], flat=ratio))
    s.add(rows, Spec("Policy drift", ["actor/kl", "actor/ppo_kl"], flat=ratio if not kl else f"{ratio}; {kl}"))
    s.add(rows, Spec("Gradient norm", ["actor/grad_norm"]))
    s.add(rows, Spec("Groups with zero advantage", ["critic/zero_std_frac", "batch/dropped_groups"]))
    timing = [k for k in keys if k.startswith("timing/") and k not in ("timing/step", "timing/elapsed_s")]
    s.add(rows, Spec("Step time by phase", timing, "seconds", labels={k: k.removeprefix("timing/") for k in timing}))
    s.add(rows, Spec("Throughput", [k for k in keys if k.startswith("perf/") and "per_s" in k]))
    if "sft/loss" in keys:
        s.add(rows, Spec("SFT loss", ["sft/loss"]))
    if "wmss/margin" in keys:
        s.add(rows, Spec("WMSS target-vs-non-target logit margin", ["wmss/margin"]))
        s.add(rows, Spec("WMSS non-target gradient mass", ["wmss/nontarget_grad_mass"]))
    return [s]


def write_report(run_dir: Path, title: str | None = None) -> Path:
    """Read ``run_dir/metrics.jsonl`` (and ``config.yaml``); write and return ``run_dir/report.html``."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / METRICS_FILE)
    cfg = load_run_config(run_dir)
    agents = [a["name"] for a in _get(cfg, "multi.agents", []) or [] if isinstance(a, dict) and "name" in a] \
        if _get(cfg, "multi.workflow") else []
    sections = run_sections(rows, cfg)
    if agents:
        sections += [credit_section(rows, cfg, agents), *agent_sections(rows, cfg, agents)]
    what = (f"{len(agents)} agents ({', '.join(agents)}), workflow {_get(cfg, 'multi.workflow')}" if agents
            else f"one policy, advantage {_get(cfg, 'algo.advantage', '?')}")
    task = _get(cfg, "task.name", "?")
    lead = html.escape(f"RL run: {what}, on task {task}. Decoding modes: greedy = argmax decoding; sampled = "
                       f"temperature {_get(cfg, 'sampling.temperature', '?')}, the policy as trained.")
    page = summary(run_dir, rows, cfg, agents)
    return write_page(run_dir / "report.html", title or run_dir.resolve().name, lead, page, sections, rows,
                      run_dir / "config.yaml")


def write_eval_report(out: Path, metrics: dict, cfg: dict, model: str) -> Path:
    """``out/eval.json`` and ``out/report.html`` of one ``credo eval``: the metrics table and a bar chart."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps({"model": model, **metrics}, indent=1), encoding="utf-8")
    temp, k = _get(cfg, "sampling.temperature", "?"), _get(cfg, "eval.pass_k", 0)
    label = {"eval/accuracy": "accuracy, greedy", "eval/score_mean": "verifier score, greedy (partial credit)",
             "eval/reward_mean": "reward, greedy", "eval/length_mean": "response length, greedy (tokens)",
             "eval/sampled_accuracy": f"accuracy, sampled (pass@1 at T = {temp}, mean of {k} draws)",
             f"eval/pass@{k}": f"pass@{k}, sampled at T = {temp}"}
    items = [("Model", html.escape(model)), ("Task", html.escape(str(_get(cfg, "task.name", "?")))),
             ("Held-out prompts", fmt(_get(cfg, "eval.size")))]
    items += [(label.get(key, key.removeprefix("eval/") + " (greedy)"), fmt(v)) for key, v in metrics.items()
              if isinstance(v, int | float)]
    rates = {key: float(v) for key, v in metrics.items() if isinstance(v, int | float) and "length" not in key}
    short = {key: label.get(key, key).split(" (")[0] for key in rates}
    section = Section("Held-out evaluation", group="eval",
                      panels=[bar_panel("Held-out evaluation", rates, short)] if rates else [])
    lead = html.escape("Evaluation only (credo eval): greedy = argmax decoding; sampled = the sampling temperature.")
    return write_page(out / "report.html", f"credo eval: {model}", lead, table(items), [section], [])
