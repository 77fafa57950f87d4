"""Tables for results.md from experiments/wmss/results/seed*.json: calibration, per-arm EM and mechanism measures,
and the pre-registered paired contrasts (f) − (a) and (c) − (b) with per-seed McNemar standard errors.

    python experiments/wmss/table.py [results folder]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

CONTRASTS = [("f", "a"), ("c", "b"), ("b", "a"), ("c", "g"), ("d", "c"), ("e", "a")]


def paired(x: list[bool], y: list[bool]) -> tuple[float, float, int, int]:
    """(EM_x − EM_y, McNemar SE, #x-only right, #y-only right) over the same items."""
    n = len(x)
    b = sum(1 for u, v in zip(x, y) if u and not v)
    c = sum(1 for u, v in zip(x, y) if v and not u)
    d = (b - c) / n
    return d, math.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n, b, c


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results"
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("seed*.json"))]
    print("## Calibration\n")
    print("| seed | SFT steps to plateau | plateau EM (M1) | M0 step | M0 EM | median train p(target) | "
          "arm a ΔEM | M1 wrong digit in M0 top-2 | gate |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        c, s = r["calibration"], r.get("sft", {})
        g = c.get("gate")
        gate = "not yet (arm a pending)" if g is None else ("passed" if c["gate_passed"] else
                                                            "FAILED: " + ", ".join(k for k, v in g.items() if not v))
        move = f"{c['arm_a_em_move']:+.4f}" if "arm_a_em_move" in c else "—"
        print(f"| {r['seed']} | {s.get('m1_step', '—')} | {c['plateau_em']:.4f} | {s.get('m0_step', '—')} | "
              f"{c['m0_em']:.4f} | {c['median_train_p_target']:.4f} | {move} | "
              f"{c['m1_wrong_in_m0_top2']:.3f} of {c['m1_error_positions']} | {gate} |")
    print("\n## Arms (held-out EM of 2,000 items; mechanism measures)\n")
    print("| seed | arm | EM | ΔEM vs M1 | M1 errors fixed | M1-right broken | margin over M0's top negative | "
          "non-target grad share on M0 top-2 | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        for k, a in sorted(r["arms"].items()):
            move = a["em"] - r["calibration"]["plateau_em"]
            print(f"| {r['seed']} | {k} {a['name']} | {a['em']:.4f} | {move:+.4f} | "
                  f"{a['m1_errors_fixed']:.3f} | {a['m1_right_broken']:.3f} | {a['margin_over_m0_top_negative']:.2f} | "
                  f"{a['grad_share_m0_top2']:.3f} | {a['seconds']:.0f} |")
    print("\n## Paired contrasts (per seed; McNemar SE)\n")
    print("| seed | contrast | ΔEM | SE | x-only right | y-only right |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        for x, y in CONTRASTS:
            if x in r["arms"] and y in r["arms"]:
                d, se, b, c = paired(r["arms"][x]["em_items"], r["arms"][y]["em_items"])
                print(f"| {r['seed']} | ({x}) − ({y}) | {d:+.4f} | {se:.4f} | {b} | {c} |")
    print("\n## Pooled over gated seeds (pre-registered rule: x > y when mean − 1.96·SE > 0)\n")
    print("| contrast | seeds | mean ΔEM | SE | 95% interval | relation | mean grad share on M0 top-2, x / y |")
    print("|---|---|---|---|---|---|---|")
    for x, y in CONTRASTS:
        p = pooled(runs, x, y)
        if p is not None:
            gated = [r for r in runs if r["calibration"].get("gate_passed") and x in r["arms"] and y in r["arms"]]
            gx, gy = (sum(r["arms"][a]["grad_share_m0_top2"] for r in gated) / len(gated) for a in (x, y))
            print(f"| ({x}) − ({y}) | {p[2]} | {p[0]:+.4f} | {p[1]:.4f} | [{p[0] - 1.96 * p[1]:+.4f}, "
                  f"{p[0] + 1.96 * p[1]:+.4f}] | {relation(p)} | {gx:.3f} / {gy:.3f} |")
    print(f"\nVerdict rule: {verdict(runs)}")


def pooled(runs: list[dict], x: str, y: str) -> tuple[float, float, int] | None:
    """Pre-registered pooled contrast over gated seeds: (mean d_i, SE, k) with SE = max(√(Σ s_i²)/k, sd(d_i)/√k),
    the second term only for k ≥ 3; None without a seed that has both arms."""
    ds = [paired(r["arms"][x]["em_items"], r["arms"][y]["em_items"])[:2] for r in runs
          if r["calibration"].get("gate_passed") and x in r["arms"] and y in r["arms"]]
    if not ds:
        return None
    k = len(ds)
    mean = sum(d for d, _ in ds) / k
    se = math.sqrt(sum(s * s for _, s in ds)) / k
    if k >= 3:
        se = max(se, math.sqrt(sum((d - mean) ** 2 for d, _ in ds) / (k - 1) / k))
    return mean, se, k


def relation(p: tuple[float, float, int] | None) -> str:
    if p is None:
        return "n/a"
    mean, se, _ = p
    return ">" if mean - 1.96 * se > 0 else "<" if mean + 1.96 * se < 0 else "≈"


def verdict(runs: list[dict]) -> str:
    """The revised design's verdict rule (results.md, "Revised design", item 6)."""
    fa, cb, ba = (pooled(runs, *c) for c in (("f", "a"), ("c", "b"), ("b", "a")))
    if fa is None or cb is None or min(fa[2], cb[2]) < 3:
        return "no verdict: fewer than 3 gated seeds with (a), (b), (c), (f)"
    r_fa, r_cb, r_ba = relation(fa), relation(cb), relation(ba)
    if r_fa == ">" and r_cb == ">":
        return "reproduced (before the mechanism check)"
    if r_ba == ">" and r_cb == "≈":
        return "temperature effect"
    if r_fa in ("≈", "<"):
        return f"not reproduced: (f) {r_fa} (a)"
    return f"other: (f) {r_fa} (a), (c) {r_cb} (b), (b) {r_ba} (a)"


if __name__ == "__main__":
    main()
