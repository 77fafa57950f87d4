#!/usr/bin/env bash
# R2M miniature runs, one process per call, niced, one thread. Design v3 by default (results.md: gold with a knee at
# 6 'a's costing 2 each past it, outputs in results_v3/); v4: OUT=experiments/r2m/results_v4 COST=4;
# v5: OUT=experiments/r2m/results_v5 KNEE=3 MAXA=3 POOL=512;
# v6: OUT=experiments/r2m/results_v6 KNEE=3 MAXA=3 POOL=512 COUNT=1500; v7: v6 + CORR=0.4;
# v8: OUT=experiments/r2m/results_v8 KNEE=3 MAXA=3 POOL=512 COUNT=1500 BANGCOST=0; v2:
# OUT=experiments/r2m/results KNEE= . Stages (repository root):
#   bash experiments/r2m/queue.sh prep        # seed 0: pretrain policy + RM trunk, pool, pairs, proxy
#   bash experiments/r2m/queue.sh cal LR      # calibration run: frozen arm, seed 0, 250 steps
#   bash experiments/r2m/queue.sh gate LR     # frozen runs on SEEDS (default 1-4), stops once 2 frozen runs fail
#   bash experiments/r2m/queue.sh arms LR     # only if >= 4/5 frozen runs pass: the arms, seeds 0-4, by priority
# Gate calls with disjoint SEEDS, or several arms calls (workers sharing one job list), may run side by side.
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH=src OMP_NUM_THREADS=1
OUT=${OUT:-experiments/r2m/results_v3}
KNEE=${KNEE-6}
POOL=${POOL:-384}
COST=${COST:-2}
PY="nice -n 19 .venv/bin/python experiments/r2m/run.py"
COMMON="--out $OUT${KNEE:+ --gold-knee $KNEE --knee-cost $COST}${BANGCOST:+ --bang-cost $BANGCOST}"
# v6: COUNT=N trains the trunk N steps to expose character counts, then BT-trains the head alone on it
FIT=${COUNT:+--count-trunk $COUNT --bt-lr 1e-2 --bt-steps 600 --corr ${CORR:-0.5}}
PREP="--pool-prompts $POOL ${FIT:---train-trunk --bt-lr 1e-3 --bt-steps 400}${MAXA:+ --pairs-max-a $MAXA}"
case $1 in
  prep) $PY prep --seeds 0 $PREP $COMMON ;;
  cal) $PY arm --seeds 0 --arms frozen --lr "$2" --kl 0.05 --tag "cal_lr$2" $COMMON ;;
  gate)
    cp -n "$OUT/cal_lr$2_frozen_s0.jsonl" "$OUT/gate_frozen_s0.jsonl"
    for s in ${SEEDS:-1 2 3 4}; do
      [ -f "$OUT/prep_s$s.json" ] || $PY prep --seeds "$s" $PREP $COMMON
      [ -s "$OUT/gate_frozen_s$s.jsonl" ] || $PY arm --seeds "$s" --arms frozen --lr "$2" --kl 0.05 --tag gate $COMMON
      .venv/bin/python experiments/r2m/summarize.py "$OUT" --check-gate
      [ $? -eq 1 ] && { echo "gate failed (2 frozen runs fail): stop"; exit 0; }
    done ;;
  arms)  # every call is a worker taking (arm, seed) jobs in priority order from $OUT/arms.todo
    .venv/bin/python experiments/r2m/summarize.py "$OUT" --check-gate || { echo "gate not passed: arms not run"; exit 0; }
    LR=$2
    (flock 9; [ -e "$OUT/arms.todo" ] || for arm in r2m r2m_self head gold_refresh r2m_noise; do
      for s in 0 1 2 3 4; do echo "$arm $s"; done; done > "$OUT/arms.todo") 9> "$OUT/arms.lock"
    while job=$( (flock 9; head -n 1 "$OUT/arms.todo"; sed -i 1d "$OUT/arms.todo") 9> "$OUT/arms.lock") && [ -n "$job" ]; do
      read -r arm s <<< "$job"
      [ -s "$OUT/gate_${arm}_s$s.jsonl" ] || $PY arm --seeds "$s" --arms "$arm" --lr "$LR" --kl 0.05 --tag gate $COMMON
    done ;;
esac
