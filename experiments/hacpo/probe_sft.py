"""Probe: greedy held-out accuracy of an agent after k SFT steps (to pick the warm-start budgets).

python probe_sft.py 300,800 weak,strong
"""
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from run import BASE, sft_agent  # noqa: E402

from credo.config import load_config  # noqa: E402

torch.set_num_threads(1)
if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(None, BASE + [f"log.output_dir={d}"])
        for name in sys.argv[2].split(","):
            for steps in [int(s) for s in sys.argv[1].split(",")]:
                acc, secs = sft_agent(cfg, name, steps, seed=0, out=Path(d) / name)
                print(name, steps, acc, round(secs, 1), flush=True)
