#!/usr/bin/env bash
# The gate on seeds 1-4 (seed 0's frozen run is the calibration run at the chosen lr; stops as soon as 2 of the 5
# frozen runs fail), then — only if >= 4/5 frozen runs pass — the arms in priority order, seed by seed. One process
# at a time, niced, one thread.
#   bash experiments/r2m/queue.sh LR > experiments/r2m/results/queue.log 2>&1 &
set -u
LR=$1
cd "$(dirname "$0")/../.."
export PYTHONPATH=src OMP_NUM_THREADS=1
PY="nice -n 15 .venv/bin/python experiments/r2m/run.py"
OUT=experiments/r2m/results
cp "$OUT/cal_lr${LR}_frozen_s0.jsonl" "$OUT/gate_frozen_s0.jsonl"
for s in 1 2 3 4; do
  [ -f "$OUT/prep_s$s.json" ] || $PY prep --seeds "$s" --pool-prompts 384 --train-trunk --bt-lr 1e-3 --bt-steps 400
  [ -s "$OUT/gate_frozen_s$s.jsonl" ] || $PY arm --seeds "$s" --arms frozen --lr "$LR" --kl 0.05 --tag gate
  .venv/bin/python experiments/r2m/summarize.py "$OUT" --check-gate
  [ $? -eq 1 ] && { echo "gate failed (2 frozen runs fail): stop, arms not run"; exit 0; }
done
.venv/bin/python experiments/r2m/summarize.py "$OUT" --check-gate || { echo "gate failed: arms not run"; exit 0; }
for arm in r2m r2m_self head gold_refresh r2m_noise; do
  for s in 0 1 2 3 4; do
    $PY arm --seeds "$s" --arms "$arm" --lr "$LR" --kl 0.05 --tag gate
  done
done
