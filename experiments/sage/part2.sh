#!/usr/bin/env bash
# Part 2 queue, one run at a time: each arm is trained (150 steps) and measured; results are copied into results/
# as soon as each run ends. Usage (repository root): nohup experiments/sage/part2.sh "grpo:0 sage:0 ..." &
set -u
for job in $1; do
  arm=${job%%:*}; seed=${job##*:}
  echo "$(date -u +%H:%M:%S) start $arm s$seed"
  PYTHONPATH=src OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python experiments/sage/run.py train "$arm" "$seed" \
    > "runs/sage_exp/train_${arm}_s${seed}.log" 2>&1 || { echo "train $arm s$seed failed"; continue; }
  cp "runs/sage_exp/${arm}_s${seed}/metrics.jsonl" "experiments/sage/results/metrics_${arm}_s${seed}.jsonl"
  PYTHONPATH=src OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python experiments/sage/run.py measure "$arm" "$seed" \
    > "runs/sage_exp/measure_${arm}_s${seed}.log" 2>&1 || { echo "measure $arm s$seed failed"; continue; }
  cp "runs/sage_exp/measure_${arm}_s${seed}.json" experiments/sage/results/
  echo "$(date -u +%H:%M:%S) done $arm s$seed"
done
