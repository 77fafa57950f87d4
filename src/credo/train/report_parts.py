"""Building blocks of the HTML run reports (``credo.train.report``, ``credo.retrieval.report``).

A report is a summary table, then groups of plot panels, then a list of the metrics that are not plotted with one
line each saying why (never logged, or constant: a flat line carries no information). Every plotted panel is a
``<div class="panel" data-keys="..." data-points="N">`` holding one inline PNG (matplotlib's Agg canvas, no pyplot
global state); a panel group is a ``<section class="group" data-group="...">``. The page loads nothing from outside.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.5em; } h3 { font-size: 1em; margin: 0 0 .4em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ccc; padding: .25em .7em; }
th { background: #f3f3f3; text-align: left; font-weight: normal; } td.num { font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1em; }
.panel { border: 1px solid #ddd; border-radius: 6px; padding: .6em; } .panel img { width: 100%; }
.note { color: #666; font-size: .85em; margin: .2em 0 0; } ul.flat { color: #555; font-size: .9em; }
section.group { border-top: 2px solid #e4e4e4; margin-top: 1.5em; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
"""


@dataclass
class Spec:
    """One panel: ``keys`` plotted against step; ``flat`` says why the metric may be constant for this run."""

    title: str
    keys: list[str]
    ylabel: str = ""
    flat: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # key -> legend label (default: the key)


@dataclass
class Section:
    """A titled group of panels plus the one-line notes on what was left out."""

    title: str
    group: str = ""  # data-group attribute: an agent's name for a per-agent section
    panels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, rows: list[dict], spec: Spec) -> None:
        panel, note = line_panel(rows, spec)
        if panel:
            self.panels.append(panel)
        if note:
            self.notes.append(note)


def series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the rows that carry ``key`` as a number."""
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float) and not isinstance(r[key], bool)]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def fmt(v: object, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{seconds:.1f} s ({s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s)"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _varies(ys: list[float]) -> bool:
    """More than rounding noise apart (a group-normalised mean of 1e-9 is a constant 0)."""
    return len(ys) > 1 and max(ys) - min(ys) > 1e-7 * max(1.0, abs(max(ys)), abs(min(ys)))


def line_panel(rows: list[dict], spec: Spec) -> tuple[str, str]:
    """→ (panel HTML or "", note or ""). A key never logged, a constant key and a key whose curve repeats an earlier
    key's are left out with a note; a panel with nothing left is replaced by its note."""
    present, curves, notes = [], {}, []
    for k in spec.keys:
        xs, ys = series(rows, k)
        if not xs:
            continue
        same = next((p for p in present if curves[p] == (xs, ys)), None)
        if same is not None:
            notes.append(f"{k} is identical to {same}")
            continue
        present.append(k)
        curves[k] = (xs, ys)
    if not present:
        return "", ""
    varying = [k for k in present if _varies(curves[k][1])]
    flat = [k for k in present if k not in varying]
    if flat:
        values = ", ".join(f"{k} ≡ {fmt(curves[k][1][0], 4)}" for k in flat)
        notes.insert(0, f"{values}{' (' + spec.flat + ')' if spec.flat else ''}")
    if not varying:
        return "", f"{spec.title}: " + "; ".join(notes)
    fig = Figure(figsize=(6.4, 3.4))  # fixed margins: automatic layout engines triple the render time
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.14, top=0.96)
    ax = fig.add_subplot()  # the panel's <h3> is the title
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    points = 0
    for k in varying:
        xs, ys = curves[k]
        points += len(xs)
        ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, label=spec.labels.get(k, k))
    ax.set_ylabel(spec.ylabel)
    ax.legend(fontsize=8)
    note = f'<p class="note">{html.escape("; ".join(notes))}</p>' if notes else ""
    alt = html.escape(f"{spec.title}: {', '.join(varying)}")
    img = f'<img alt="{alt}" src="data:image/png;base64,{_png(fig)}">'
    return (f'<div class="panel" data-keys="{html.escape(" ".join(varying))}" data-points="{points}">'
            f"<h3>{html.escape(spec.title)}</h3>{img}{note}</div>"), ""


def bar_panel(title: str, values: dict[str, float], labels: dict[str, str], ylabel: str = "") -> str:
    """One bar per metric key (an evaluation without steps); ``labels`` names the bars."""
    fig = Figure(figsize=(6.4, 3.4))
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.22, top=0.9)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    ax.bar([labels.get(k, k) for k in values], list(values.values()), color="#4c72b0")
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(alpha=0.3, axis="y")
    return (f'<div class="panel" data-keys="{html.escape(" ".join(values))}" data-points="{len(values)}">'
            f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{_png(fig)}"></div>')


def table(items: list[tuple[str, str]]) -> str:
    """Two-column table; values are HTML already escaped by the caller (``fmt``)."""
    body = "".join(f'<tr><th>{html.escape(k)}</th><td class="num">{v}</td></tr>' for k, v in items)
    return f'<table class="summary">{body}</table>'


def section_html(s: Section) -> str:
    if not s.panels and not s.notes:
        return ""
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in s.notes)
    attr = f' data-group="{html.escape(s.group or s.title)}"'
    return (f'<section class="group"{attr}><h2>{html.escape(s.title)}</h2><div class="grid">\n'
            + "\n".join(s.panels) + "\n</div>" + (f'<p class="note">Not plotted:</p><ul class="flat">{notes}</ul>'
                                                  if notes else "") + "</section>")


def last_values(rows: list[dict]) -> str:
    last: dict[str, object] = {}
    for r in rows:
        last.update({k: v for k, v in r.items() if k != "step"})
    body = "".join(f'<tr><td>{html.escape(k)}</td><td class="num">{fmt(v, 6)}</td></tr>'
                   for k, v in sorted(last.items()))
    return f"<details><summary>Last value of every metric ({len(last)})</summary><table>{body}</table></details>"


def write_page(out: Path, title: str, lead: str, summary: str, sections: list[Section], rows: list[dict],
               config: Path | None = None) -> Path:
    """Assemble and write the page; ``lead`` is one escaped sentence under the title."""
    config_html = (f"<details><summary>config.yaml</summary><pre>{html.escape(config.read_text(encoding='utf-8'))}"
                   "</pre></details>" if config is not None and config.exists() else "")
    body = "\n".join(h for h in (section_html(s) for s in sections) if h)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head>\n<body><h1>{html.escape(title)}</h1>\n<p>{lead}</p>\n"
            f"<h2>Summary</h2>{summary}{config_html}\n{body}\n"
            f"<h2>All metrics</h2>{last_values(rows)}\n</body></html>\n")
    out.write_text(page, encoding="utf-8")
    return out
