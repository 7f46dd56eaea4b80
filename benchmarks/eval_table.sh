#!/usr/bin/env bash
# Effectiveness and efficiency of every sparse system on nfcorpus test and cranfield, as in docs/benchmarks.md.
#   bash benchmarks/eval_table.sh            (from the repository root, after `make venv datasets`)
# Indexes are cached under $LEXIR_CACHE (default .cache/lexir); runs and results go to runs/<dataset>/<system>/.
set -euo pipefail
cd "$(dirname "$0")/.."
export IR_DATASETS_HOME=${IR_DATASETS_HOME:-$PWD/.cache/ir_datasets}
export LEXIR_CACHE=${LEXIR_CACHE:-$PWD/.cache/lexir}
MSMARCO_IDF=${MSMARCO_IDF:-../shared/data/idf/opensearch-msmarco-idf.json}
lexir=.venv/bin/lexir

for dataset in beir/nfcorpus/test cranfield; do
  out=runs/$(echo "$dataset" | tr '/' '-')
  $lexir eval "$dataset" --encoder bm25 --out "$out/bm25" --no-progress
  $lexir eval "$dataset" --encoder splade-tiny --out "$out/splade-tiny" --no-progress
  $lexir eval "$dataset" --encoder splade-tiny-if --out "$out/splade-tiny-if" --no-progress
  $lexir eval "$dataset" --encoder splade-tiny-if --query-option query_tf=count \
    --out "$out/splade-tiny-if-count" --no-progress
  $lexir eval "$dataset" --encoder splade-tiny-if --query-option "idf=$MSMARCO_IDF" \
    --out "$out/splade-tiny-if-msmarco-idf" --no-progress
  $lexir eval "$dataset" --encoder splade-tiny-if --query-option idf=vectors \
    --out "$out/splade-tiny-if-vectors-idf" --no-progress
  $lexir eval compare "$out/bm25" "$out/splade-tiny" "$out/splade-tiny-if" "$out/splade-tiny-if-count" \
    "$out/splade-tiny-if-msmarco-idf" "$out/splade-tiny-if-vectors-idf" --markdown
done
