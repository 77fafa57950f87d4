"""Tables, the calibration/gate check and the paired arm comparison from run.py's logs.

    python experiments/r2m/summarize.py experiments/r2m/results [--tables] [--tag gate]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from credo.experiment_utils import mean_ci95


def smooth(xs: list[float]) -> list[float]:
    return [sum(xs[max(0, i - 1): i + 2]) / len(xs[max(0, i - 1): i + 2]) for i in range(len(xs))]


def load(f: Path) -> list[dict]:
    return [json.loads(x) for x in f.read_text().splitlines() if x.strip()]


def gate(rows: list[dict], sd0: float) -> dict:
    """Gold peak step, the three gate criteria (results.md) and whether all hold."""
    sm = smooth([r["gold"] for r in rows])
    peak = max(range(len(sm)), key=sm.__getitem__)
    last = rows[-3:]
    mean = lambda k: statistics.fmean(r[k] for r in last)  # noqa: E731
    fall = (sm[peak] - mean("gold")) / sd0
    out = {"peak_step": rows[peak]["step"], "peak_gold": sm[peak], "gold0": rows[0]["gold"], "gold_end": mean("gold"),
           "fall_sd": fall, "proxy0": rows[0]["proxy"], "proxy_end": mean("proxy"), "acc0": rows[0]["rm_acc"],
           "acc_end": mean("rm_acc"), "kl_end": mean("seq_kl"), "bang_end": mean("bang"), "last_step": rows[-1]["step"]}
    out["pass"] = (out["proxy_end"] > out["proxy0"] and fall >= 0.3 and out["acc0"] - out["acc_end"] >= 0.1)
    return out


def at_kl(rows: list[dict], kl: float, key: str = "gold") -> float:
    """``key`` (gold, rm_acc, ...) at sequence KL ``kl`` by linear interpolation along the run (first crossing)."""
    pts = [(r["seq_kl"], r[key]) for r in rows]
    for (k0, g0), (k1, g1) in zip(pts, pts[1:]):
        if k0 <= kl <= k1 and k1 > k0:
            return g0 + (g1 - g0) * (kl - k0) / (k1 - k0)
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--tables", action="store_true")
    ap.add_argument("--tag", default="gate")
    ap.add_argument("--steps", type=int, default=250, help="a frozen run counts for the gate once it reached this")
    ap.add_argument("--check-gate", action="store_true",
                    help="exit 0: >= 4 of 5 frozen runs pass; 1: >= 2 fail (gate failed); 2: undecided")
    a = ap.parse_args()
    logs = {f.stem: load(f) for f in sorted(a.folder.glob("*_s*.jsonl")) if f.stat().st_size}
    sd = {int(f.stem[6:]): json.loads(f.read_text())["gold_sd0"] for f in a.folder.glob("prep_s*.json")
          if f.stem[6:].isdigit()}
    if a.tables:
        for name, rows in logs.items():
            print(f"\n**{name}**\n\n| step | seq KL | gold | proxy | '!' rate | 'a' rate | group std | RM acc |")
            print("|---|---|---|---|---|---|---|---|")
            for r in rows:
                print(f"| {r['step']} | {r['seq_kl']:.2f} | {r['gold']:.3f} | {r['proxy']:.2f} | {r['bang']:.3f} | "
                      f"{r['a_rate']:.3f} | {r['group_std']:.2f} | {r['rm_acc']:.3f} |")
    print("\n| run | lr | β | peak step | gold 0 → peak → end | fall (sd) | proxy 0 → end | RM acc 0 → end | "
          "seq KL end | '!' end | gate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in logs.items():
        g = gate(rows, sd[rows[0]["seed"]])
        print(f"| {name} (to {g['last_step']}) | {rows[0]['lr']:g} | {rows[0]['beta']:g} | {g['peak_step']} | "
              f"{g['gold0']:.3f} → {g['peak_gold']:.3f} → {g['gold_end']:.3f} | {g['fall_sd']:.2f} | "
              f"{g['proxy0']:.2f} → {g['proxy_end']:.2f} | {g['acc0']:.3f} → {g['acc_end']:.3f} | {g['kl_end']:.2f} | "
              f"{g['bang_end']:.3f} | {'pass' if g['pass'] else 'fail'} |")
    if a.check_gate:
        runs = [n for n in logs if n.startswith(f"{a.tag}_frozen_s") and logs[n][-1]["step"] >= a.steps]
        passed = sum(gate(logs[n], sd[logs[n][0]["seed"]])["pass"] for n in runs)
        print(f"\ngate: {passed}/{len(runs)} frozen runs pass (of 5 seeds)")
        raise SystemExit(0 if passed >= 4 else 1 if len(runs) - passed >= 2 else 2)
    # paired arm comparison against the frozen arm of the same seed (runs tagged --tag)
    pre = f"{a.tag}_"
    arms = sorted({n[len(pre):].rsplit("_s", 1)[0] for n in logs if n.startswith(pre)} - {"frozen"})
    if not arms:
        return
    print("\n| arm | seeds | RM acc, last 5 evals | gold, last 5 | 'a' rate, last 5 | seq KL, last 5 |")
    print("|---|---|---|---|---|---|")
    for arm in ["frozen", *arms]:
        runs = [rows for n, rows in logs.items()
                if n[len(pre):].rsplit("_s", 1)[0] == arm and rows[-1]["step"] >= a.steps]
        if runs:
            vals = [[x for x in (last5(rows, k) for rows in runs) if not math.isnan(x)]
                    for k in ("rm_acc", "gold", "a_rate", "seq_kl")]
            cells = [f"{statistics.fmean(v):.3f}" + (f" (n={len(v)})" if len(v) < len(runs) else "") for v in vals]
            print(f"| {arm} | {len(runs)} | " + " | ".join(cells) + " |")
    pairs = [(arm, "frozen") for arm in arms] + [("r2m", y) for y in ("r2m_self", "r2m_noise", "head") if y in arms]
    print("\n| contrast (paired by seed, 95% t interval) | seeds | RM acc, last 5 evals | peak gold "
          "| gold at matched KL | RM acc at matched KL |")
    print("|---|---|---|---|---|---|")
    for x, y in pairs:
        d_acc, d_peak, d_kl, d_acc_kl = [], [], [], []
        for s in range(10):
            rx, ry = logs.get(f"{pre}{x}_s{s}"), logs.get(f"{pre}{y}_s{s}")
            if not rx or not ry or rx[-1]["step"] < a.steps or ry[-1]["step"] < a.steps:
                continue
            d_acc.append(last5(rx, "rm_acc") - last5(ry, "rm_acc"))
            d_peak.append(max(smooth([r["gold"] for r in rx])) - max(smooth([r["gold"] for r in ry])))
            kl = 0.5 * min(max(r["seq_kl"] for r in rx), max(r["seq_kl"] for r in ry))
            d_kl.append(at_kl(rx, kl) - at_kl(ry, kl))
            d_acc_kl.append(at_kl(rx, kl, "rm_acc") - at_kl(ry, kl, "rm_acc"))
        if d_acc:
            print(f"| {x} − {y} | {len(d_acc)} | {ci(d_acc)} | {ci(d_peak)} | {ci(d_kl)} | {ci(d_acc_kl)} |")


def last5(rows: list[dict], key: str) -> float:
    """Mean of ``key`` over the last 5 evaluations, skipping NaN (RM accuracy is NaN at an evaluation where no two
    samples of a prompt differ in gold, e.g. a policy that writes no `a`); NaN if all 5 are."""
    xs = [r[key] for r in rows[-5:] if not math.isnan(r[key])]
    return statistics.fmean(xs) if xs else float("nan")


def ci(xs: list[float]) -> str:
    """Mean and 95% t interval over the seeds with a value (NaN dropped; ``(n=k)`` when any was)."""
    n = len(xs)
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return "—"
    m, lo, hi = mean_ci95(xs)
    tail = f" (n={len(xs)})" if len(xs) < n else ""
    return (f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]" if len(xs) > 1 else f"{m:+.3f}") + tail


if __name__ == "__main__":
    main()
