"""Markdown tables from out/*.json (run.py's stages): gate, label SNR, mechanism, outcome."""

import json
import math
import statistics
from pathlib import Path

from credo.experiment_utils import pearson

OUT = Path(__file__).resolve().parent / "out"


def load(stage: str) -> dict[int, dict]:
    return {json.loads(p.read_text())["args"]["seed"]: json.loads(p.read_text())
            for p in sorted(OUT.glob(f"{stage}_seed*.json"))}


def mean(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.fmean(xs) if xs else float("nan")


def main() -> None:
    grpo, cbs = load("grpo"), load("cbs")
    print("| seed | acc 0 | acc 50 | acc 100 | acc 150 | gain | Spearman(J, acc) | r(Σg, ΔJ) @0 | r(Σg, ΔJ) @75 |"
          " label noise sd @0 / @75 | label SNR @0 / @75 | r(label, ΔJ) @0 / @75 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s, r in grpo.items():
        acc = [c["sampled_acc"] for c in r["curve"]]
        hp = r["half_probe"]
        h0, h75 = hp.get("0", {}), hp.get("75", {})

        def f(h, k, fmt="{:.3f}"):
            return fmt.format(h[k]) if k in h and h[k] is not None else "—"
        print(f"| {s} | " + " | ".join(f"{a:.3f}" for a in acc) + f" | {r['gain']:+.3f} | {r['spearman_J_vs_acc']:.2f} "
              f"| {f(h0, 'r_sum_g_vs_dJ', '{:.2f}')} | {f(h75, 'r_sum_g_vs_dJ', '{:.2f}')} "
              f"| {math.sqrt(h0['label_noise_var']):.3f} / {math.sqrt(h75['label_noise_var']):.3f} "
              f"| {f(h0, 'label_snr')} / {f(h75, 'label_snr')} "
              f"| {f(h0, 'r_label_vs_dJ', '{:.2f}')} / {f(h75, 'r_label_vs_dJ', '{:.2f}')} |")
    print()
    print("| seed | probes | Spearman(score, g) | Spearman(\\|A\\|, g) | within-group Spearman(score, g) |"
          " regret share (chosen − random) / (oracle − random) | AUROC TP vs FP | acc start → end (CBS) |")
    print("|---|---|---|---|---|---|---|---|")
    for s, r in cbs.items():
        m = r["mechanism"]
        share = [(x["sum_g_chosen"] - x["sum_g_random_expected"]) / (x["sum_g_oracle"] - x["sum_g_random_expected"])
                 for x in m if x["sum_g_oracle"] - x["sum_g_random_expected"] > 0]
        print(f"| {s} | {len(m)} | {mean([x['spearman_score_g'] for x in m]):+.3f} "
              f"| {mean([x['spearman_absadv_g'] for x in m]):+.3f} "
              f"| {mean([x['within_group_spearman_score_g'] for x in m]):+.3f} | {mean(share):+.3f} "
              f"| {mean([x['auroc_tp_vs_fp'] for x in m]):.3f} "
              f"| {r['sampled_acc_start']:.3f} → {r['sampled_acc_end']:.3f} |")
    keys = ["spearman_score_g", "spearman_absadv_g", "within_group_spearman_score_g", "auroc_tp_vs_fp"]
    per_seed = {k: [mean([x[k] for x in r["mechanism"]]) for r in cbs.values()] for k in keys}
    if len(cbs) > 1:
        print("| mean ± SE over seeds | | " + " | ".join(
            f"{statistics.fmean(v):+.3f} ± {statistics.stdev(v) / math.sqrt(len(v)):.3f}"
            for k, v in per_seed.items() if k != "auroc_tp_vs_fp") + " | | "
            f"{statistics.fmean(per_seed['auroc_tp_vs_fp']):.3f} ± "
            f"{statistics.stdev(per_seed['auroc_tp_vs_fp']) / math.sqrt(len(cbs)):.3f} | |")
    print()
    print("| seed | full GRPO acc @150 | CBS-intra acc @150 | CBS − full |")
    print("|---|---|---|---|")
    diffs = []
    for s in sorted(set(grpo) & set(cbs)):
        a, b = grpo[s]["curve"][-1]["sampled_acc"], cbs[s]["sampled_acc_end"]
        diffs.append(b - a)
        print(f"| {s} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
    if len(diffs) > 1:
        se = statistics.stdev(diffs) / math.sqrt(len(diffs))
        print(f"| mean ± SE | | | {statistics.fmean(diffs):+.3f} ± {se:.3f} |")


ARM_NAMES = {"cbs": "CBS-intra (paper label)", "exact": "CBS-intra, exact ΔJ_probe label", "oracle": "oracle-50%",
             "random": "random-50%", "max_abs_adv": "max-\\|Â\\|-50%"}


def mean_se(xs) -> str:
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return "—"
    if len(xs) == 1:
        return f"{xs[0]:+.3f} (n=1)"
    return f"{statistics.fmean(xs):+.3f} ± {statistics.stdev(xs) / math.sqrt(len(xs)):.3f} (n={len(xs)})"


def share(m: list[dict]) -> float:
    return mean([(x["sum_g_chosen"] - x["sum_g_random_expected"]) / (x["sum_g_oracle"] - x["sum_g_random_expected"])
                 for x in m if x["sum_g_oracle"] - x["sum_g_random_expected"] > 0])


def arms() -> None:
    """Every selection arm next to full GRPO: mechanism on the probe steps, end accuracy, paired differences."""
    grpo = {s: r["curve"][-1]["sampled_acc"] for s, r in load("grpo").items()}
    runs = {a: load(a) for a in ARM_NAMES}
    print("| arm | seeds | Spearman(score, g) | within-group Spearman(score, g) | regret share | AUROC TP vs FP |")
    print("|---|---|---|---|---|---|")
    for a, name in ARM_NAMES.items():
        rs = runs[a]
        if not rs:
            continue
        col = {k: [mean([x[k] for x in r["mechanism"]]) for r in rs.values()]
               for k in ("spearman_score_g", "within_group_spearman_score_g", "auroc_tp_vs_fp")}
        shares = [share(r["mechanism"]) for r in rs.values()]
        print(f"| {name} | {','.join(map(str, rs))} | {mean_se(col['spearman_score_g'])} "
              f"| {mean_se(col['within_group_spearman_score_g'])} | {mean_se(shares)} "
              f"| {mean_se(col['auroc_tp_vs_fp'])} |")
    print()
    present = [a for a in ARM_NAMES if runs[a]]
    print("| seed | full GRPO | " + " | ".join(ARM_NAMES[a] for a in present) + " |")
    print("|---|---|" + "---|" * len(present))
    for s in sorted(set(grpo) | {s for a in present for s in runs[a]}):
        cells = [f"{runs[a][s]['sampled_acc_end']:.3f}" if s in runs[a] else "—" for a in present]
        print(f"| {s} | {grpo[s]:.3f} | " + " | ".join(cells) + " |" if s in grpo else
              f"| {s} | — | " + " | ".join(cells) + " |")
    rand = {s: r["sampled_acc_end"] for s, r in runs["random"].items()}
    for ref_name, ref in [("full GRPO", grpo), ("random-50%", rand)]:
        diffs = [mean_se([runs[a][s]["sampled_acc_end"] - ref[s] for s in runs[a] if s in ref]) for a in present]
        print(f"| − {ref_name} (paired) | | " + " | ".join(diffs) + " |")
    ex = runs["exact"]
    if ex:
        print()
        print("| seed (exact arm) | rounds | corr(paper label, exact ΔJ label) | sd paper label | sd exact label |")
        print("|---|---|---|---|---|")
        for s, r in ex.items():
            pl = [x["paper_label"] for x in r["exact_labels"]]
            el = [x["exact_label"] for x in r["exact_labels"]]
            print(f"| {s} | {len(pl)} | {pearson(pl, el):+.2f} | {statistics.stdev(pl):.4f} "
                  f"| {statistics.stdev(el):.4f} |")


def confound() -> None:
    """Predicted vs realised gain of the CBS runs, and how much of both is the previous round's V and E (a round-level
    regression to the mean that per-round z-scores leak into the features), not a rollout's value."""
    import numpy as np

    print("| seed | steps | corr(predicted, realised) | corr(realised, V_{t-1}) | corr(predicted, V_{t-1}) |"
          " partial corr(predicted, realised \\| V_{t-1}, E_{t-1}) |")
    print("|---|---|---|---|---|---|")
    for s, r in load("cbs").items():
        ms = r["cbs_metrics"]
        rows = np.array([(ms[t - 1]["cbs/V"], ms[t - 1]["cbs/E"], ms[t]["cbs/realised_gain"],
                          ms[t]["cbs/predicted_gain"]) for t in range(1, len(ms)) if "cbs/predicted_gain" in ms[t]])
        x = np.c_[np.ones(len(rows)), rows[:, 0], rows[:, 1]]

        def res(y, x=x):
            return y - x @ np.linalg.lstsq(x, y, rcond=None)[0]

        c = np.corrcoef
        print(f"| {s} | {len(rows)} | {c(rows[:, 3], rows[:, 2])[0, 1]:+.2f} | {c(rows[:, 2], rows[:, 0])[0, 1]:+.2f} "
              f"| {c(rows[:, 3], rows[:, 0])[0, 1]:+.2f} | {c(res(rows[:, 3]), res(rows[:, 2]))[0, 1]:+.2f} |")


if __name__ == "__main__":
    main()
    print()
    confound()
    print()
    arms()
