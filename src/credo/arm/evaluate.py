"""λ-grid evaluation of guided decoding on the topic task: objective means per λ, hypervolume against a fixed
reference point, MIP, monotonicity, decoding throughput, and a Pareto plot."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from credo.arm.generate import guided_generate
from credo.arm.metrics import hypervolume, lambda_grid, mip, monotonicity
from credo.arm.synthetic import TOPICS, TopicTask

# help ∈ [0, 1], harmless ∈ [−1, 0]: the worst attainable point is the fixed reference of every hypervolume.
REFERENCE = (0.0, -1.0)


def matched_oracle_beta(alpha: float, normalize: bool, label_temperature: float, beta_r: float) -> float:
    """The oracle's β that matches what a trained ARM estimates. Labels drawn with P(y0 ≻ y1) = σ(Δf / τ) and fitted
    by σ(β_r Δ log π_r) give log π_r − log π_base ≈ f / (τ β_r) per token; guidance adds α (normalised: α / (1 + α))
    of that, i.e. the exact rewards divided by β = τ β_r (1 + α) / α (without normalisation: τ β_r / α)."""
    return label_temperature * beta_r * ((1 + alpha) if normalize else 1.0) / max(alpha, 1e-9)


def objective_means(task: TopicTask, trajs: list, topics: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean [2], standard error [2]) of (help, harmless) over the sampled responses."""
    vals = np.array([task.objectives(topics[i // n], t.response_text) for i, t in enumerate(trajs)])
    return vals.mean(0), vals.std(0, ddof=1) / np.sqrt(len(vals)) if len(vals) > 1 else np.zeros(2)


def evaluate_grid(model: Any, tokenizer: Any, task: TopicTask, make_processors: Callable[[list[float]], list],
                  lams: np.ndarray, prompts: int, samples: int, max_new_tokens: int, temperature: float = 1.0,
                  seed: int = 0) -> dict:
    """Decode ``prompts`` topic prompts × ``samples`` per λ of ``lams`` with ``make_processors(λ)``; returns
    {lams, means [m, 2], se [m, 2], tokens_per_s [m]}."""
    from credo.models import encode_prompt

    topics = [i % len(TOPICS) for i in range(prompts)]
    ids = [encode_prompt(tokenizer, task.prompt(t), False) for t in topics]
    means, ses, speed = [], [], []
    for j, lam in enumerate(lams):
        trajs, tps = guided_generate(model, tokenizer, ids, samples, max_new_tokens, temperature,
                                     make_processors(list(map(float, lam))), seed=seed + j)
        m, se = objective_means(task, trajs, topics, samples)
        means.append(m.tolist())
        ses.append(se.tolist())
        speed.append(tps)
    return {"lams": np.asarray(lams).tolist(), "means": means, "se": ses, "tokens_per_s": speed}


def summarise(result: dict, low: np.ndarray | None = None, high: np.ndarray | None = None) -> dict:
    """Hypervolume (reference :data:`REFERENCE`), MIP (normalised by ``low``/``high``, default the grid's own range)
    and per-objective monotonicity of one grid result."""
    pts, lams = np.array(result["means"]), np.array(result["lams"])
    return {"hv": hypervolume(pts, np.array(REFERENCE)), "mip": mip(lams, pts, low, high),
            "monotonicity": monotonicity(lams, pts), "tokens_per_s": float(np.mean(result["tokens_per_s"]))}


def pareto_plot(path: str | Path, curves: dict[str, list], objectives: tuple[str, str] = ("help", "harmless"),
                base: list[float] | None = None) -> Path:
    """Scatter + line of each curve's (objective 0, objective 1) points over the λ grid, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, pts in curves.items():
        p = np.asarray(pts)
        ax.plot(p[:, 0], p[:, 1], marker="o", ms=3, label=name)
    if base is not None:
        ax.scatter([base[0]], [base[1]], marker="x", color="black", label="base (unguided)", zorder=5)
    ax.set_xlabel(objectives[0])
    ax.set_ylabel(objectives[1])
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def evaluate_run(cfg: Any, arm: Any, tokenizer: Any, out: str | Path, base: Any = None) -> dict:
    """After training on the synthetic task: the ARM's λ grid next to the unguided base and the exact-reward oracle;
    writes ``eval.json`` and ``pareto.png`` into ``out``. ``base`` is the guided model (default: the ARM's base,
    loaded fresh)."""
    from credo.arm.guide import GuidedLogits, GuideTerm
    from credo.arm.synthetic import OracleGuide
    from credo.models import load_causal_lm, resolve_model_dir
    from credo.models.device import model_device

    task = TopicTask(cfg.data.seed)
    if base is None:
        base = load_causal_lm(resolve_model_dir(cfg.model), cfg.model, model_device(arm)).eval()
    e, d = cfg.eval, cfg.decode
    lams = lambda_grid(len(cfg.data.objectives), e.grid)
    run = dict(tokenizer=tokenizer, task=task, prompts=e.prompts, samples=e.samples,
               max_new_tokens=d.max_new_tokens, temperature=d.temperature, seed=e.seed)
    unguided = evaluate_grid(base, lams=lams[:1], make_processors=lambda lam: [], **run)
    pref = None if cfg.adapter.kind == "lora" else "pref"
    guided = evaluate_grid(base, lams=lams, make_processors=lambda lam: [GuidedLogits(
        [GuideTerm(arm, lam if pref else None, d.alpha)], tokenizer.pad_token_id, d.normalize)], **run)
    oracle = evaluate_grid(base, lams=lams, make_processors=lambda lam: [
        OracleGuide(task, tokenizer, lam, matched_oracle_beta(d.alpha, d.normalize, cfg.data.label_temperature,
                                                             cfg.train.beta), d.max_new_tokens)], **run)
    low, high = np.min(oracle["means"], 0), np.max(oracle["means"], 0)
    report = {"base": unguided["means"][0], "base_tokens_per_s": unguided["tokens_per_s"][0],
              "arm": guided | summarise(guided, low, high), "oracle": oracle | summarise(oracle, low, high)}
    report["hv_ratio"] = report["arm"]["hv"] / report["oracle"]["hv"] if report["oracle"]["hv"] > 0 else float("nan")
    report["slowdown"] = report["base_tokens_per_s"] / max(report["arm"]["tokens_per_s"], 1e-9)
    out = Path(out)
    (out / "eval.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    pareto_plot(out / "pareto.png", {cfg.adapter.kind: guided["means"], "oracle": oracle["means"]},
                base=unguided["means"][0])
    return report
