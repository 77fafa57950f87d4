"""HACPO decisive miniature: "state" heterogeneity — two checkpoints of ONE SFT run of one model.

Per seed, one SFT run (hidden 64, 2 layers, char-level embedded model) on 2-digit addition is snapshotted every
``SNAP`` steps; the snapshot whose held-out greedy accuracy is nearest 0.15 becomes agent ``weak`` and the one nearest
0.50 agent ``strong`` (rule fixed before any RL run). Sharing one architecture, tokenizer and training history, their
log-probs on each other's samples are close, so cross importance ratios sit near 1 — the regime HACPO's mechanisms
are meant for. Then RL under each arm with the same number of update steps:
  gspo      each agent alone (no sharing);           gspo_x2   alone, twice the rollouts (n = 16);
  naive     shared rollouts without HACPO's mechanisms;
  hacpo     δ = 0.2 (code default);                   hacpo_d4  δ = 0.4.
Measured: held-out greedy accuracy of each agent alone on ``EVAL`` prompts (paired across arms: same prompts,
same starting weights, same seed), and the share of *correct* cross samples that receive a non-zero gradient
(``<agent>/hacpo/cross_correct_grad_frac``).

lr 1e-4 was chosen by ``calibrate`` (GSPO alone, seeds 0-1, grid 3e-5 / 1e-4 / 3e-4 / 1e-3: the largest mean gain
with both agents gaining >= 0.05; rule written before the runs).

Usage:
  python state_hetero.py probe SEEDS              # SFT curve per seed, picks the two checkpoints (sft_probe.jsonl)
  python state_hetero.py calibrate SEED LR[,LR]   # GSPO alone at each lr: must gain >= 0.05 in STEPS steps
  python state_hetero.py run SEEDS [ARMS] [key=value ...]   -> state_hetero.jsonl (resumable)
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from credo.config import load_config, replace_from  # noqa: E402
from credo.engines import ENGINES  # noqa: E402
from credo.experiment_utils import int_list  # noqa: E402
from credo.models import load_policy  # noqa: E402
from credo.sft.trainer import sft_examples, sft_train  # noqa: E402
from credo.tasks import build_task  # noqa: E402
from credo.train.evaluate import evaluate  # noqa: E402
from credo.train.hacpo import HACPOTrainer  # noqa: E402
from credo.train.metrics import read_metrics  # noqa: E402

EVAL = 1000
SNAP, SFT_STEPS = 10, 600
TARGETS = {"weak": 0.15, "strong": 0.50}
STEPS = 100
ARCH = {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 128}
BASE = ["task.kind=callable", "task.name=addition_task:rows", "task.kwargs={digits: 2}", "task.size=3000",
        f"task.eval_size={EVAL}", "sampling.n=8", "sampling.temperature=1.0", "sampling.max_new_tokens=5",
        "sampling.stop=[]", "train.lr=1e-4", "train.prompts_per_step=8", "train.mini_batches=2", "train.threads=1",
        "algo.policy_loss=gspo", "algo.eps_low=3e-4", "algo.eps_high=4e-4", "algo.loss_agg=seq_mean_token_mean",
        f"eval.size={EVAL}", "eval.pass_k=0", "eval.every=0", "log.tensorboard=false", "log.progress=false",
        "log.report=false", "sft.batch_size=32", "sft.lr=3e-3", "multi.workflow=hacpo"]
ARMS = {"gspo": ["hacpo.arm=gspo"], "gspo_x2": ["hacpo.arm=gspo", "sampling.n=16"], "naive": ["hacpo.arm=naive"],
        "hacpo": ["hacpo.delta=0.2"], "hacpo_d4": ["hacpo.delta=0.4"]}
WORK = Path(tempfile.gettempdir()) / "credo_hacpo_state"


def accuracy(model, tok, task, cfg) -> float:
    acc = evaluate(ENGINES.get("hf")(model, tok), tok, task, task.rows("eval"), cfg.sampling, cfg.eval, False)
    model.train()
    return acc["eval/accuracy"]


def probe(seed: int) -> dict:
    """One SFT run; snapshots every SNAP steps; saves the two chosen checkpoints under WORK/seed<seed>/."""
    single = [k for k in BASE if not k.startswith("multi.")]
    cfg = load_config(None, single + [f"task.seed={seed}", "log.output_dir=/tmp/unused"])
    model, tok, _ = load_policy(replace_from(cfg.model, ARCH | {"init_seed": 1000 + seed}, "model"))
    task = build_task(cfg.task)
    snaps: dict[int, dict] = {}

    def keep(step, _metrics):
        if step % SNAP == 0:
            snaps[step] = copy.deepcopy(model.state_dict())

    t0 = time.perf_counter()
    sft_train(model, tok.pad_token_id, sft_examples(tok, task, task.rows("train"), False),
              replace_from(cfg.sft, {"steps": SFT_STEPS}, "sft"), seed=seed, log=keep)
    curve = {}
    for step, state in snaps.items():
        model.load_state_dict(state)
        curve[step] = accuracy(model, tok, task, cfg)
    chosen = {}
    for name, target in TARGETS.items():
        step = min(curve, key=lambda s: abs(curve[s] - target))
        model.load_state_dict(snaps[step])
        out = WORK / f"seed{seed}" / name
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        chosen[name] = {"step": step, "acc": curve[step]}
    return {"seed": seed, "curve": curve, "chosen": chosen, "secs": round(time.perf_counter() - t0, 1)}


def run_arm(seed: int, arm: str, extra: list[str] = ()) -> dict:
    agents = ", ".join(f"{{name: {n}, model: {{path: '{WORK / f'seed{seed}' / n}'}}}}" for n in TARGETS)
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(None, BASE + ARMS.get(arm, []) + [f"train.steps={STEPS}", f"train.seed={seed}",
                                                             f"task.seed={seed}", f"multi.agents=[{agents}]",
                                                             f"log.output_dir={d}"] + list(extra))
        t0 = time.perf_counter()
        final = HACPOTrainer(cfg, overwrite=True).run()
        rows = read_metrics(Path(d) / "metrics.jsonl")
    steps = [r for r in rows if "hacpo/weak/capability" in r]
    out = {"seed": seed, "arm": arm, "extra": list(extra), "secs": round(time.perf_counter() - t0, 1),
           "start": {n: rows[0].get(f"eval/{n}/accuracy") for n in TARGETS},
           "final": {n: final[f"eval/{n}/accuracy"] for n in TARGETS}, "diag": {}}
    for n in TARGETS:
        for k in ("cross_ratio_mean", "cross_clipfrac_low", "cross_correct_grad_frac"):
            vals = [r[f"{n}/hacpo/{k}"] for r in steps if f"{n}/hacpo/{k}" in r]
            if vals:
                out["diag"][f"{n}/{k}"] = round(sum(vals) / len(vals), 4)
    return out


def append(path: Path, row: dict) -> None:
    print(json.dumps(row), flush=True)
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def main() -> None:
    torch.set_num_threads(1)
    what, seeds = sys.argv[1], int_list(sys.argv[2])
    if what == "probe":
        for seed in seeds:
            append(HERE / "state_probe.jsonl", probe(seed))
    elif what == "calibrate":
        for lr in sys.argv[3].split(","):
            for seed in seeds:
                append(HERE / "state_calibration.jsonl", run_arm(seed, "gspo", [f"train.lr={lr}"]) | {"lr": lr})
    else:
        arms = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] != "all" else list(ARMS)
        extra, path = sys.argv[4:], HERE / "state_hetero.jsonl"
        rows = map(json.loads, path.read_text().splitlines()) if path.exists() else []
        done = {(r["seed"], r["arm"]) for r in rows}
        for seed in seeds:
            for arm in arms:
                if (seed, arm) not in done:
                    append(path, run_arm(seed, arm, extra))


if __name__ == "__main__":
    main()
