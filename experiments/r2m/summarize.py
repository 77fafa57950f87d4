"""Markdown tables from the per-arm logs of run.py: python experiments/r2m/summarize.py experiments/r2m/results"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: Path) -> None:
    for f in sorted(folder.glob("*_s*.jsonl")):
        rows = [json.loads(x) for x in f.read_text().splitlines()]
        print(f"\n**{f.stem}**\n")
        print("| step | KL | gold | proxy | spurious '!' | RM acc (pairs) |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            acc = "n/a" if r["rm_pairs"] == 0 else f"{r['rm_acc']:.2f} ({int(r['rm_pairs'])})"
            print(f"| {r['step']} | {r['kl']:.2f} | {r['gold']:.3f} | {r['proxy']:.2f} | {r['spurious']:.2f} | {acc} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
