#!/usr/bin/env bash
# Several `lexir train` runs at once on one CUDA GPU, each picking its checkpoint on nfcorpus dev; then the
# best few models are packed for the trip back. Made for a lent GPU machine that has torch but neither the data
# nor ir_datasets: the prepared training data and the cached dev split travel in CACHE (`lexir train ... --dev
# beir/nfcorpus/dev` run once here writes both), the missing packages as wheels in .whl/ (see docs/benchmarks.md).
#
#   CACHE=.cache/lexir OUT=/tmp/out bash benchmarks/train_gpu_sweep.sh benchmarks/sweeps/gpu-lr-teachers.txt
#
# The sweep file has one run per line: a name, then the options that differ from the common ones below (a
# later option wins, so `--steps` there overrides the default here).
#
# Runs still going at DEADLINE seconds are stopped, and their best-on-dev checkpoint (checkpoints/best.pt) is
# packed instead of a model folder. DEVICE (default cuda) and EXTRA (options appended to every run, e.g. for a
# short dry run on the CPU: DEVICE=cpu EXTRA="--steps 2 --save-every 2 --batch-size 2") change every run.
set -uo pipefail
SWEEP=${1:?give the sweep file (benchmarks/sweeps/*.txt)}
CACHE=${CACHE:-.cache/lexir}
OUT=${OUT:?set OUT to the folder that receives the packed results}
RUNS=${RUNS:-runs/train-gpu}
DEADLINE=${DEADLINE:-420}
KEEP=${KEEP:-3}
started=$(date +%s)
mkdir -p "$RUNS" "$OUT"
common=(--supervised beir/nfcorpus/train --ict-corpus beir/nfcorpus --ict-pairs 1000 --dev beir/nfcorpus/dev
        --device "${DEVICE:-cuda}" --cache "$CACHE" --quiet --threads 2 --batch-size 24 --group-size 8 --steps 1000
        --max-doc-length 256 --save-every 50)
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
pids=()
while read -r name options; do
  case "$name" in ''|'#'*) continue ;; esac
  # shellcheck disable=SC2086
  python3 -m lexir train "$RUNS/$name" "${common[@]}" $options ${EXTRA:-} >"$RUNS/$name.out" 2>&1 &
  pids+=($!)
done <"$SWEEP"
while (( $(date +%s) - started < DEADLINE )) && [ -n "$(jobs -rp)" ]; do sleep 5; done
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
wait
nvidia-smi --query-gpu=name,memory.used --format=csv >"$RUNS/gpu.txt" 2>&1

# rank the runs by their best dev score; pack logs of all, models (or best.pt) of the best KEEP
python3 - "$RUNS" "$KEEP" >"$RUNS/ranking.txt" <<'EOF'
import json, sys
from pathlib import Path
runs, keep = Path(sys.argv[1]), int(sys.argv[2])
best = {}
for log in runs.glob("*/log.jsonl"):
    devs = [json.loads(line) for line in log.read_text().splitlines() if '"dev"' in line]
    if devs:
        top = max(devs, key=lambda entry: entry["dev"])
        best[log.parent.name] = (top["dev"], top["step"], devs[-1]["step"])
for name, (dev, step, last) in sorted(best.items(), key=lambda item: -item[1][0])[:keep]:
    print(name, f"{dev:.4f}", step, last)
EOF
cat "$RUNS/ranking.txt"
kept=()
while read -r name _; do
  if [ -d "$RUNS/$name/model" ]; then kept+=("$name/model"); else kept+=("$name/checkpoints/best.pt"); fi
done <"$RUNS/ranking.txt"
tar -czf "$OUT/logs.tar.gz" -C "$RUNS" ranking.txt gpu.txt $(cd "$RUNS" && ls ./*.out ./*/log.jsonl ./*/loss.png 2>/dev/null)
tar -cf - -C "$RUNS" "${kept[@]}" | split -b 15m - "$OUT/models.tar.part-"
ls -la "$OUT"
echo "done in $(( $(date +%s) - started )) s"
