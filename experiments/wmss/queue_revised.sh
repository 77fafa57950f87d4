#!/usr/bin/env bash
# Revised-design runs (results.md, "Revised design"), one process at a time, in the pre-registered order:
# gate on seeds 0, 1 -> stop unless one passes -> (f), (b), (c) on seeds 0, 1 -> SFT + (a), (f), (b), (c) on seeds
# 2-4 -> (d), (e), (g) on seeds 0-4. A seed whose gate fails stops itself (run.py). Log: runs/wmss/queue_n700.log
set -u
cd "$(dirname "$0")/../.."
OUT=experiments/wmss/results_n700
run() { OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 8 .venv/bin/python experiments/wmss/run.py --train-size 700 \
          --extra-lr 1e-4 --m0-rule first --out "$OUT" "$@" 2>&1 | grep --line-buffered -v "Loading weights"; }
for s in 0 1; do echo "== gate seed $s $(date -u +%T)"; run --seed "$s" --arms a --gate-only; done
passed=$(.venv/bin/python -c "import json; print(sum(json.load(open(f'$OUT/seed{s}.json'))['calibration']\
.get('gate_passed', False) for s in (0, 1)))")
echo "== gates passed on seeds 0-1: $passed $(date -u +%T)"
[ "$passed" -gt 0 ] || exit 0
for s in 0 1 2 3 4; do echo "== seed $s arms afbc $(date -u +%T)"; run --seed "$s" --arms afbc; done
for s in 0 1 2 3 4; do echo "== seed $s arms deg $(date -u +%T)"; run --seed "$s" --arms deg; done
echo "== done $(date -u +%T)"
