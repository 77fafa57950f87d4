#!/usr/bin/env bash
# Settling design (results.md, "Settling design"): workers take jobs from $OUT/jobs.todo (flock'd; two workers may
# run side by side). Seeds 0 and 4 gated in the cosine probe (same code and settings: outputs copied), so their jobs
# are the arms; seeds 5-9 run SFT + gate + arms, and a new seed is only started while fewer than 5 seeds have passed.
# Then (d), (e), (g) on the gated seeds. Log: runs/wmss/queue_settling*.log
set -u
cd "$(dirname "$0")/../.."
OUT=experiments/wmss/results_settling
mkdir -p "$OUT" runs/wmss
for s in 0 1 2 3 4; do  # the probe's gate results and weights under the design's folder name
  [ -e "$OUT/seed$s.json" ] || cp experiments/wmss/results_probe_cosine/seed$s.json "$OUT/"
  [ -e runs/wmss/results_settling-seed$s.pt ] || cp runs/wmss/results_probe_cosine-seed$s.pt runs/wmss/results_settling-seed$s.pt
done
run() { OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 8 .venv/bin/python experiments/wmss/run.py --train-size 700 \
          --extra-lr 1e-4 --m0-rule first --sft-cosine 3000 --skip-out-of-band --out "$OUT" "$@" 2>&1 \
          | grep --line-buffered -v "Loading weights"; }
passed() { .venv/bin/python -c "import json, pathlib; print(sum(json.loads(p.read_text())['calibration']\
.get('gate_passed', False) for p in pathlib.Path('$OUT').glob('seed*.json')))"; }
(flock 9; [ -e "$OUT/jobs.todo" ] || printf '%s\n' "0 bcf" "5 abcf" "4 bcf" "6 abcf" "7 abcf" "8 abcf" "9 abcf" \
  "0 deg" "4 deg" "5 deg" "6 deg" "7 deg" "8 deg" "9 deg" > "$OUT/jobs.todo") 9> "$OUT/jobs.lock"
while job=$( (flock 9; head -n 1 "$OUT/jobs.todo"; sed -i 1d "$OUT/jobs.todo") 9> "$OUT/jobs.lock") && [ -n "$job" ]; do
  read -r s arms <<< "$job"
  if [ "$arms" = abcf ] && [ ! -e "$OUT/seed$s.json" ] && [ "$(passed)" -ge 5 ]; then echo "== skip seed $s: 5 gated"; continue; fi
  if [ "$arms" = deg ] && [ ! -e "$OUT/seed$s.json" ]; then continue; fi
  echo "== seed $s arms $arms $(date -u +%T)"; run --seed "$s" --arms "$arms"
done
echo "== done $(date -u +%T)"
