#!/usr/bin/env bash
# `lexir train`: the trained inference-free model and its ablations, evaluated beside the baselines.
#   bash benchmarks/train_ablation.sh          (from the repository root, after `make venv datasets`;
#                                               run benchmarks/eval_table.sh first for the baseline rows)
# Trains seven students (about 12 minutes each on 2 cores; a finished one is not trained again), then
# evaluates each on nfcorpus test and cranfield and prints the comparison tables with nonzeros per document.
# The data (nfcorpus train queries + 1,000 ICT pairs from the nfcorpus corpus, teacher-scored) is prepared
# once and cached; no test split is used for training or for choosing anything.
set -euo pipefail
cd "$(dirname "$0")/.."
export IR_DATASETS_HOME=${IR_DATASETS_HOME:-$PWD/.cache/ir_datasets}
export LEXIR_CACHE=${LEXIR_CACHE:-$PWD/.cache/lexir}
STEPS=${STEPS:-600}
lexir=.venv/bin/lexir
common=(--supervised beir/nfcorpus/train --ict-corpus beir/nfcorpus --ict-pairs 1000 --steps "$STEPS" --quiet)

train() {
  local name=$1; shift
  [ -f "runs/train/$name/model/idf.json" ] || $lexir train "runs/train/$name" "${common[@]}" "$@"
}
train ensemble-idf-flops                       # the method: both teachers, IDF-aware FLOPS
train ensemble-plain-flops --flops plain       # ablation: plain FLOPS
train sparse-teacher --teacher sparse          # ablation: one teacher (splade-tiny)
train dense-teacher --teacher dense            # ablation: one teacher (MiniLM)
# the penalties compared where FLOPS matters, and the sparse teacher pushed towards the ensemble's sparsity
train ensemble-idf-flops-w0.01 --flops-weight 0.01
train ensemble-plain-flops-w0.01 --flops plain --flops-weight 0.01
train sparse-teacher-w0.004 --teacher sparse --flops-weight 0.004

for dataset in beir/nfcorpus/test cranfield; do
  out=runs/$(echo "$dataset" | tr '/' '-')
  results=("$out/bm25" "$out/splade-tiny" "$out/splade-tiny-if")
  for name in ensemble-idf-flops ensemble-plain-flops sparse-teacher dense-teacher \
      ensemble-idf-flops-w0.01 ensemble-plain-flops-w0.01 sparse-teacher-w0.004; do
    [ -f "$out/trained-$name/result.json" ] ||
      $lexir eval "$dataset" --encoder "runs/train/$name/model" --out "$out/trained-$name" --no-progress
    results+=("$out/trained-$name")
  done
  $lexir eval "$dataset" --encoder runs/train/ensemble-idf-flops/model --query-option idf=corpus \
    --out "$out/trained-ensemble-idf-flops-corpus-idf" --no-progress
  results+=("$out/trained-ensemble-idf-flops-corpus-idf")
  $lexir eval compare "${results[@]}" --markdown
done
