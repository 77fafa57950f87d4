"""Tables for results.md from dyad.json and voting.json: mean ± sd over seeds of the measured numbers."""

import json
import sys
from pathlib import Path

from credo.experiment_utils import mean_sd

HERE = Path(__file__).parent


def dyad(tag=""):
    res = json.loads((HERE / f"dyad{'_' + tag if tag else ''}.json").read_text())
    arms = [a for a in ("shared", "v1", "v2") if any(r["credit"] == a for r in res)]
    seeds = sorted({r["seed"] for r in res})
    keys = ["eval/team_accuracy", "eval/solo_accuracy", "eval/lazy_gap", "eval/help_rate", "hint_accuracy"]
    print(f"seeds {seeds}\n")
    print("| arm | " + " | ".join(k.replace("eval/", "") for k in keys)
          + " | train team acc. (first / last 20 steps) | train help rate (last 20 steps) | "
          "Thinker reward var | Thinker zero-adv groups |")
    print("|---|" + "---|" * (len(keys) + 4))
    first = [r for r in res if r["credit"] == arms[0]]
    print("| warm start | " + " | ".join(mean_sd(r["before"][k] for r in first) for k in keys) + " | | | | |")
    for a in arms:
        rs = [r for r in res if r["credit"] == a]
        print(f"| {a} | " + " | ".join(mean_sd(r["after"][k] for r in rs) for k in keys) + " | "
              + mean_sd(sum(r["train_joint_accuracy"][:20]) / 20 for r in rs) + " / "
              + mean_sd(sum(r["train_joint_accuracy"][-20:]) / 20 for r in rs) + " | "
              + mean_sd(sum(r["train_help_rate"][-20:]) / 20 for r in rs) + " | "
              + mean_sd(r["thinker_reward_var"] for r in rs)
              + " | " + mean_sd(r["thinker_zero_adv_frac"] for r in rs) + " |")
    print("\nper seed, team accuracy after: " + "; ".join(
        f"{a}: " + ", ".join(f"{r['after']['eval/team_accuracy']:.3f}" for r in res if r["credit"] == a)
        for a in arms))


def voting(tag=""):
    res = json.loads((HERE / "voting.json").read_text())
    arms = [a for a in ("shared", "counterfactual", "individual") if any(r["credit"] == a for r in res)]
    names = list(res[0]["pivotal_rate"])
    keys = ["eval/team_accuracy"] + [f"eval/{n}/accuracy" for n in names]
    print(f"seeds {sorted({r['seed'] for r in res})}\n")
    print("| arm | " + " | ".join(k.replace("eval/", "") for k in keys) + " | "
          + " | ".join(f"{n} pivotal" for n in names) + " |")
    print("|---|" + "---|" * (len(keys) + len(names)))
    first = [r for r in res if r["credit"] == arms[0]]
    print("| warm start | " + " | ".join(mean_sd(r["before"][k] for r in first) for k in keys) + " |"
          + " |" * len(names))
    for a in arms:
        rs = [r for r in res if r["credit"] == a]
        print(f"| {a} | " + " | ".join(mean_sd(r["after"][k] for r in rs) for k in keys) + " | "
              + " | ".join(mean_sd(r["pivotal_rate"][n] for r in rs) for n in names) + " |")


if __name__ == "__main__":
    {"dyad": dyad, "voting": voting}[sys.argv[1] if len(sys.argv) > 1 else "dyad"](*sys.argv[2:])
