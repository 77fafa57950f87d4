"""``make report-check``: short runs of every trainer, their report.html rendered in headless Chromium.

Writes ``runs/report-check/<name>/report.html`` and ``runs/report-check/screenshots/<name>.png`` for: GRPO, the demo
recipe (shortened), the three multi-agent workflows, HACPO, ``credo eval`` and a UniFAR retrieval run (tiny random
encoder on the synthetic set). Chromium is Debian's ``chromium`` package, installed with apt-get when missing. Each
report is also parsed: a panel without a PNG, or a multi-agent report without a panel group per agent, fails.
Usage: ``python scripts/report_check.py [OUT_DIR] [--skip-runs]`` (``--skip-runs`` re-renders existing reports).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

TINY = ["task.size=200", "task.eval_size=16", "eval.size=16", "eval.every=2", "train.steps=8", "sft.steps=20",
        "train.prompts_per_step=4", "sampling.n=4", "log.tensorboard=false", "log.progress=false", "train.threads=1"]
RUNS = {
    "grpo": ["grpo", "sampling.max_new_tokens=8", "eval.pass_k=4"],
    "demo": ["demo", "sft.steps=60"],
    "ccpo_think_reason": ["ccpo_think_reason", "multi.period=2"],
    "ccpo_voting": ["ccpo_voting"],
    "dacr_are": ["dacr_are"],
    "hacpo": ["hacpo"],
}
AGENTS = {"ccpo_think_reason": ["thinker", "solver"], "ccpo_voting": ["voter1", "voter2", "voter3"],
          "dacr_are": ["p", "q"], "hacpo": ["small", "large"]}


def chromium() -> str:
    """Path of a Chromium binary; installs Debian's ``chromium`` with apt-get when none is found."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    print("chromium not found: apt-get install -y chromium", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "chromium"], check=True)
    path = shutil.which("chromium")
    if path is None:
        sys.exit("report-check: apt-get install chromium finished but no chromium binary is on PATH")
    return path


def run_all(out: Path) -> dict[str, Path]:
    """Train (or evaluate) each short run; -> name → run folder holding report.html."""
    py = sys.executable
    done = {}
    for name, (recipe, *keys) in RUNS.items():
        run = out / name
        cmd = [py, "-m", "credo.cli", "train", recipe, *TINY, *keys, f"log.output_dir={run}", "--overwrite"]
        print("$", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        done[name] = run
    subprocess.run([py, "-m", "credo.cli", "eval", "grpo", *TINY, "sampling.max_new_tokens=8", "eval.pass_k=4",
                    "--model", str(out / "grpo" / "policy"), "--out", str(out / "eval")], check=True,
                   stdout=subprocess.DEVNULL)
    done["eval"] = out / "eval"
    subprocess.run([py, "-c", RETRIEVAL, str(out / "unifar")], check=True)
    done["unifar"] = out / "unifar"
    return done


RETRIEVAL = """
import sys, torch
from credo.retrieval.config import load_retrieval_config
from credo.retrieval.synthetic import make_synthetic
from credo.retrieval.tiny import build_tiny_encoder
from credo.retrieval.train import Sources, train
torch.set_num_threads(1)
out = sys.argv[1]
data = make_synthetic(n_docs=150, n_topics=6, n_questions=150, seed=0)
texts = [" ".join(d.units()) for d in data.corpus.values()] + [q.text for q in data.queries.values()]
enc = build_tiny_encoder(out + "-encoder", texts + ["background method result"], hidden=32, seed=0)
cfg = load_retrieval_config(None, [f"model.path={enc}", "train.steps=30", "eval.every=10", "train.lr=3e-3",
                                   "train.head_lr=1e-2", "model.max_length=64", "log.progress=false",
                                   f"log.output_dir={out}"])
train(cfg, Sources(data, data), overwrite=True)
"""


def check(name: str, page: str) -> str:
    """One line on the report; exits on a panel without an image or a missing agent group."""
    panels = re.findall(r'<div class="panel"[^>]*>(.*?)</div>', page, flags=re.S)
    empty = [p for p in panels if "data:image/png;base64," not in p]
    if empty or not panels:
        sys.exit(f"report-check: {name}: {len(empty)} of {len(panels)} panels without a plot")
    groups = re.findall(r'<section class="group" data-group="([^"]+)"', page)
    missing = [a for a in AGENTS.get(name, []) if a not in groups]
    if missing:
        sys.exit(f"report-check: {name}: no panel group for agent(s) {missing}")
    return f"{name}: {len(panels)} panels, groups {groups}"


def screenshot(browser: str, html: Path, png: Path) -> None:
    page = html.read_text(encoding="utf-8")
    rows = page.count('class="panel"') // 2 + page.count("<section") + page.count("<li>") // 4 + 4
    height = min(16000, 400 + 330 * rows)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size=1200,{height}", f"--screenshot={png}", html.resolve().as_uri()],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0] if args else "runs/report-check")
    browser = chromium()
    runs = ({p.name: p for p in out.iterdir() if (p / "report.html").is_file()} if "--skip-runs" in sys.argv
            else run_all(out))
    shots = out / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for name, run in runs.items():
        print(check(name, (run / "report.html").read_text(encoding="utf-8")), flush=True)
        screenshot(browser, run / "report.html", shots / f"{name}.png")
    print(f"screenshots: {shots.resolve()}")


if __name__ == "__main__":
    main()
