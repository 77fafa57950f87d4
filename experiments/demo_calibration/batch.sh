#!/bin/sh
# Calibration runs one after another, niced, 1 thread: batch.sh OUT.jsonl "SEED key=value ..." ...
out=$1; shift
for spec in "$@"; do
  set -- $spec
  seed=$1; shift
  OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python experiments/demo_calibration/run.py "$seed" "$out" "$@" 2>&1 | tail -1
done
