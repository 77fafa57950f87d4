"""Tables and plots for ``bandit.py``: per arm and noise setting, mean ± sd over seeds, and the paired ARE - mean
differences (same seed, same random numbers).

Usage: python experiments/are/bandit_table.py bandit.json [bandit_b.json ...] -> bandit_tables.md, bandit_*.png
"""

from __future__ import annotations

import json
import statistics as st
import sys
from collections import defaultdict
from pathlib import Path

from credo.experiment_utils import mean_sd

OUT = Path(__file__).parent
SCALES = ("std", "none", "bern")


def load(paths: list[str]) -> tuple[list[dict], dict]:
    runs, meta = [], {}
    for p in paths:
        d = json.loads(Path(p).read_text())
        runs += d["runs"]
        meta = {k: v for k, v in d.items() if k != "runs"}
    return runs, meta


def noise_name(noise) -> str:
    df, scale, rate = noise
    return "clean" if not rate else f"t{df:g}×{scale:g}@{rate:g}"


def index(runs: list[dict]) -> dict:
    by = defaultdict(dict)
    for r in runs:
        by[(r["n"], noise_name(r["noise"]), r["scale"], r["clip"], r["centre"])][r["seed"]] = r
    return by


def steps(r: dict, budget: int) -> int:
    return budget if r["steps_to_target"] is None else r["steps_to_target"]


def cell(by, key, budget) -> dict:
    rs = list(by.get(key, {}).values())
    return {"acc": [r["final_acc"] for r in rs], "sign": [r["sign_error"] for r in rs],
            "wrong": [r["wrong_sign"] for r in rs], "collapse": [float(r["collapsed"]) for r in rs],
            "steps": [steps(r, budget) for r in rs], "reached": sum(r["steps_to_target"] is not None for r in rs)}


def paired(by, key_m, key_a, field, budget) -> list[float]:
    m, a = by.get(key_m, {}), by.get(key_a, {})
    f = (lambda r: steps(r, budget)) if field == "steps" else (lambda r: float(r[field]))
    return [f(a[s]) - f(m[s]) for s in sorted(set(m) & set(a))]


def tables(runs: list[dict], meta: dict) -> str:
    by, budget = index(runs), meta["steps"]
    ns = sorted({r["n"] for r in runs})
    noises = list(dict.fromkeys(noise_name(r["noise"]) for r in runs))
    seeds = sorted({r["seed"] for r in runs})
    lines = [f"# Bandit tables ({len(seeds)} seeds: {seeds[0]}–{seeds[-1]}; {budget} steps, lr {meta['lr']}, "
             f"C = {meta['C']} contexts, A = {meta['A']} actions, B = {meta['B']} contexts per step, target "
             f"{meta['target']})", "",
             "Per cell: mean ± sd over seeds. `steps` = steps to the target accuracy (the budget when not reached), "
             "`reach` = runs that reached it, `collapse` = share of runs ending with a context locked (>= 0.99) on a "
             "wrong action. Δ = ARE − mean, paired by seed.", ""]
    for n in ns:
        for clip in (False, True):
            lines += [f"## n = {n}, gradient clipping {'on (norm 1)' if clip else 'off'}", "",
                      "| noise | scale | final acc mean | final acc ARE | Δ acc | steps mean (reach) "
                      "| steps ARE (reach) | collapse mean / ARE | sign err mean / ARE | wrong sign mean / ARE |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for nz in noises:
                for sc in SCALES:
                    km, ka = (n, nz, sc, clip, "mean"), (n, nz, sc, clip, "are")
                    if km not in by:
                        continue
                    m, a = cell(by, km, budget), cell(by, ka, budget)
                    d = paired(by, km, ka, "final_acc", budget)
                    lines.append(
                        f"| {nz} | {sc} | {mean_sd(m['acc'])} | {mean_sd(a['acc'])} | {mean_sd(d)} | "
                        f"{st.median(m['steps']):.0f} ({m['reached']}) | "
                        f"{st.median(a['steps']):.0f} ({a['reached']}) | "
                        f"{st.mean(m['collapse']):.2f} / {st.mean(a['collapse']):.2f} | "
                        f"{st.mean(m['sign']):.3f} / {st.mean(a['sign']):.3f} | "
                        f"{st.mean(m['wrong']):.3f} / {st.mean(a['wrong']):.3f} |")
            lines.append("")
    return "\n".join(lines)


def summary(runs: list[dict], meta: dict) -> dict:
    """Pooled over the contaminated settings: paired Δ (ARE − mean) per (n, scale, clip)."""
    by, budget = index(runs), meta["steps"]
    out = {}
    for (n, nz, sc, clip, centre), _ in list(by.items()):
        if centre != "mean" or nz == "clean":
            continue
        key = (n, sc, clip)
        rec = out.setdefault(key, {"acc": [], "steps": [], "collapse": [], "sign": [], "wrong": []})
        for field, name in (("final_acc", "acc"), ("steps", "steps"), ("collapsed", "collapse"),
                            ("sign_error", "sign"), ("wrong_sign", "wrong")):
            rec[name] += paired(by, (n, nz, sc, clip, "mean"), (n, nz, sc, clip, "are"), field, budget)
    return out


def plot(runs: list[dict], meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = index(runs)
    noises = list(dict.fromkeys(noise_name(r["noise"]) for r in runs))
    for n in sorted({r["n"] for r in runs}):
        fig, axes = plt.subplots(2, 3, figsize=(14, 7), sharey=True)
        for row, clip in enumerate((False, True)):
            for col, sc in enumerate(SCALES):
                ax = axes[row][col]
                x = range(len(noises))
                for centre, colour in (("mean", "tab:blue"), ("are", "tab:red")):
                    vals = [[r["final_acc"] for r in by.get((n, nz, sc, clip, centre), {}).values()] for nz in noises]
                    mu = [st.mean(v) if v else float("nan") for v in vals]
                    sd = [st.stdev(v) if len(v) > 1 else 0.0 for v in vals]
                    ax.errorbar([i + (0.12 if centre == "are" else -0.12) for i in x], mu, yerr=sd, fmt="o",
                                color=colour, label=centre, capsize=2)
                ax.set_xticks(list(x))
                ax.set_xticklabels(noises, rotation=60, fontsize=7)
                ax.set_title(f"scale={sc}, clip={'on' if clip else 'off'}", fontsize=9)
                ax.axhline(meta["target"], color="grey", lw=0.5, ls="--")
                if col == 0:
                    ax.set_ylabel("final expected accuracy")
        axes[0][0].legend()
        fig.suptitle(f"contextual bandit, n = {n}: final accuracy, mean ± sd over seeds (ARE vs mean centre)")
        fig.tight_layout()
        fig.savefig(OUT / f"bandit_n{n}.png", dpi=110)
        plt.close(fig)


def main() -> None:
    paths = sys.argv[1:] or [str(OUT / "bandit.json")]
    runs, meta = load(paths)
    seen = {}
    for r in runs:  # a seed run twice (overlapping invocations) counts once
        seen[(r["seed"], r["n"], tuple(r["noise"]), r["centre"], r["scale"], r["clip"])] = r
    runs = list(seen.values())
    text = tables(runs, meta)
    s = summary(runs, meta)
    text += "\n## Pooled over the 8 contaminated settings: paired Δ = ARE − mean (mean ± sd over seed × setting)\n\n"
    text += "| n | scale | clip | Δ final acc | Δ steps | Δ collapse | Δ sign err | Δ wrong sign |\n"
    text += "|---|---|---|---|---|---|---|---|\n"
    for (n, sc, clip), rec in sorted(s.items(), key=lambda kv: (kv[0][0], kv[0][2], SCALES.index(kv[0][1]))):
        text += (f"| {n} | {sc} | {'on' if clip else 'off'} | {mean_sd(rec['acc'])} | {mean_sd(rec['steps'], '.1f')} | "
                 f"{mean_sd(rec['collapse'], '.2f')} | {mean_sd(rec['sign'])} | {mean_sd(rec['wrong'])} |\n")
    (OUT / "bandit_tables.md").write_text(text)
    plot(runs, meta)
    print(text)


if __name__ == "__main__":
    main()
