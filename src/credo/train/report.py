"""A self-contained HTML report of one run: summary table plus plots vs step, built from ``metrics.jsonl``.

Plots are rendered with matplotlib's Agg canvas (no pyplot, so no global backend state) and inlined as base64 PNGs;
the page loads nothing from outside. Keys may be sparse (eval rows carry only ``eval/*`` keys); a panel whose metrics
were never logged says so instead of failing.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from credo.train.metrics import METRICS_FILE, read_metrics

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.5em; } h3 { font-size: 1em; margin: 0 0 .4em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ccc; padding: .25em .7em; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1em; }
.panel { border: 1px solid #ddd; border-radius: 6px; padding: .6em; } .panel img { width: 100%; }
.na { color: #999; font-style: italic; } .note { color: #777; font-size: .85em; margin: .2em 0 0; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
"""


def _series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float) and not isinstance(r[key], bool)]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(title: str) -> tuple[Figure, object]:
    fig = Figure(figsize=(6.4, 3.4))  # fixed margins: automatic layout engines triple the render time
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.14, top=0.9)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    return fig, ax


def _panel(title: str, body: str, note: str = "") -> str:
    note = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f'<div class="panel"><h3>{html.escape(title)}</h3>{body}{note}</div>'


def _img(fig: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'


def _line_panel(rows: list[dict], title: str, keys: list[str], ylabel: str = "") -> str:
    present = [k for k in keys if _series(rows, k)[0]]
    if not present:
        return _panel(title, f'<p class="na">not logged ({html.escape(", ".join(keys))})</p>')
    fig, ax = _figure(title)
    for k in present:
        xs, ys = _series(rows, k)
        ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, label=k)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    missing = [k for k in keys if k not in present]
    note = f"not logged: {', '.join(missing)}" if missing else ""
    return _panel(title, _img(fig, f"{title}: {', '.join(present)}"), note)


def _timing_panel(rows: list[dict], keys: list[str]) -> str:
    title = "Step time split"
    timed = [r for r in rows if any(isinstance(r.get(k), int | float) for k in keys)]
    if not keys or not timed:
        return _panel(title, '<p class="na">not logged (timing/*)</p>')
    fig, ax = _figure(title)
    xs = [r["step"] for r in timed]
    ys = [[float(r.get(k) or 0.0) for r in timed] for k in keys]
    labels = [k.removeprefix("timing/") for k in keys]
    if any(isinstance(r.get("timing/step"), int | float) for r in timed):  # step time not covered by any phase
        ys.append([max(0.0, float(r.get("timing/step") or 0.0) - sum(col)) for r, col in zip(timed, zip(*ys))])
        labels.append("other")
    if len(xs) > 200:
        ax.stackplot(xs, ys, labels=labels)
    else:
        gaps = [b - a for a, b in zip(xs, xs[1:]) if b > a]
        width, bottom = 0.8 * min(gaps, default=1), [0.0] * len(xs)
        for label, y in zip(labels, ys):
            ax.bar(xs, y, bottom=bottom, width=width, label=label)
            bottom = [b + v for b, v in zip(bottom, y)]
    ax.set_ylabel("seconds")
    ax.legend(fontsize=8, framealpha=0.6)
    return _panel(title, _img(fig, f"{title}: {', '.join(labels)}"))


def _fmt(v: object, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{seconds:.1f} s ({s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s)"


def _summary(rows: list[dict], train: list[dict]) -> str:
    acc_steps, acc = _series(rows, "eval/accuracy")
    _, reward = _series(rows, "reward/mean")
    step_times = _series(train, "timing/step")[1]
    if not step_times:  # no whole-step timer: add up the phases
        step_times = [sum(v for k, v in r.items() if k.startswith("timing/") and isinstance(v, int | float))
                      for r in train]
    steps = sorted({r["step"] for r in train})
    best = max(range(len(acc)), key=acc.__getitem__) if acc else None
    items = [
        ("Held-out accuracy (first)", _fmt(acc[0]) if acc else "not logged"),
        ("Held-out accuracy (last)", _fmt(acc[-1]) if acc else "not logged"),
        ("Best held-out accuracy", f"{_fmt(acc[best])} (step {acc_steps[best]})" if best is not None else "not logged"),
        ("Training steps", f"{len(steps)} (last step {steps[-1]})" if steps else "0"),
        ("Total time", _duration(sum(step_times)) if any(step_times) else "not logged"),
        ("Last reward/mean", _fmt(reward[-1]) if reward else "not logged"),
    ]
    sft = next((r for r in rows if "sft/loss_first" in r), None)
    if sft is not None:
        items.append(("SFT warm-start loss", f"{_fmt(sft['sft/loss_first'])} → {_fmt(sft.get('sft/loss_last'))}"))
    return "<table>" + "".join(f"<tr><th>{k}</th><td class=\"num\">{v}</td></tr>" for k, v in items) + "</table>"


def _last_values(rows: list[dict]) -> str:
    last: dict[str, object] = {}
    for r in rows:
        last.update({k: v for k, v in r.items() if k != "step"})
    body = "".join(f'<tr><td>{html.escape(k)}</td><td class="num">{_fmt(v, 6)}</td></tr>'
                   for k, v in sorted(last.items()))
    return f"<details><summary>Last value of every metric ({len(last)})</summary><table>{body}</table></details>"


def write_report(run_dir: Path, title: str | None = None) -> Path:
    """Read ``run_dir/metrics.jsonl`` (and ``config.yaml`` if present); write and return ``run_dir/report.html``."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / METRICS_FILE)
    keys = sorted({k for r in rows for k in r})
    # RL step rows; eval rows and the step-0 row (eval + SFT warm-start summary) are not training steps
    train = [r for r in rows if any(k != "step" and not k.startswith(("eval/", "sft/")) for k in r)]
    pass_at = sorted((k for k in keys if re.fullmatch(r"eval/pass@\d+", k)), key=lambda k: int(k.split("@")[1]))
    timing = [k for k in keys if k.startswith("timing/") and k != "timing/step"]
    panels = [
        _line_panel(rows, "Reward", ["reward/mean", "reward/score_mean"]),
        _line_panel(rows, "Held-out accuracy", ["eval/accuracy", "eval/sampled_accuracy", *pass_at]),
        _line_panel(rows, "Response length", ["response/length_mean", "eval/length_mean"], "tokens"),
        _line_panel(rows, "Entropy", ["actor/entropy"]),
        _line_panel(rows, "Clip fraction", ["actor/clipfrac", "actor/clipfrac_low", "actor/clipfrac_high"]),
        _line_panel(rows, "KL", ["actor/kl", "actor/ppo_kl"]),
        _timing_panel(rows, timing),
    ]
    perf = [k for k in keys if k.startswith("perf/")]
    rates = [k for k in perf if "per_s" in k]  # rates and counters differ by orders of magnitude: separate panels
    for name, group in [("Throughput", rates), ("Perf counters", [k for k in perf if k not in rates])]:
        if group:
            panels.append(_line_panel(rows, name, group))
    if "sft/loss" in keys:  # per-step SFT log (``credo sft`` runs)
        panels.append(_line_panel(rows, "SFT loss", ["sft/loss"]))
    if "wmss/margin" in keys:  # ``credo sft --wmss`` runs: is the saturation broken?
        panels.append(_line_panel(rows, "WMSS target-vs-non-target logit margin", ["wmss/margin"]))
        panels.append(_line_panel(rows, "WMSS non-target gradient mass", ["wmss/nontarget_grad_mass"]))
    agents = sorted({m.group(1) for k in keys if (m := re.fullmatch(r"agent:([^/]+)/reward/.+", k))})
    for name in agents:
        panels.append(_line_panel(rows, f"Agent {name}: reward",
                                  [f"agent:{name}/reward/mean", f"agent:{name}/reward/score_mean"]))
    title = title or run_dir.resolve().name
    config = run_dir / "config.yaml"
    config_html = (f"<details><summary>config.yaml</summary><pre>{html.escape(config.read_text(encoding='utf-8'))}"
                   "</pre></details>" if config.exists() else "")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head>\n<body><h1>{html.escape(title)}</h1>\n"
            f"<h2>Summary</h2>{_summary(rows, train)}{config_html}\n"
            '<h2>Curves</h2><div class="grid">\n' + "\n".join(panels) + "\n</div>"
            f"\n<h2>All metrics</h2>{_last_values(rows)}\n</body></html>\n")
    out = run_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
