"""Re-tune offline-best's sparse side on a dev split: BM25 k1/b, then RM3's settings, each with the fusion weight.

    python benchmarks/offline_best_sweep.py DATASET CORPUS DENSE_INDEX WORKDIR
    python benchmarks/offline_best_sweep.py beir/nfcorpus/dev beir/nfcorpus /tmp/rel/nf-bm25-minilm /tmp/rel3/ix

Both stages search as `lexir eval --preset offline-best` does (every list as deep as the run, 1,000 hits plus
one for a dropped self-hit; convex z-score fusion; the preset's dense Rocchio side), so a choice made here
scores the same through `lexir eval`. The dense side does not depend on the sparse settings: its lists are
computed once (from DENSE_INDEX) and fused with every sparse variant over alpha 0, 0.05, ..., 1.
Stage 1 builds a BM25 index per (k1, b) into WORKDIR (RM3 at the preset's settings); stage 2 varies RM3's
documents, terms and weight on the best BM25 of stage 1 (coordinate ascent: one stage, then the other).
Prints one tab-separated line per setting: the setting, the best alpha and its nDCG@10. Refuses test splits:
this script chooses settings, and choosing on test is not allowed.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from lexir.eval.datasets import EvalDataset, load_dataset
from lexir.eval.measures import parse_measures, score_run
from lexir.eval.runs import run_from_hits
from lexir.presets import load_preset
from lexir.search import SearchOptions, open_search
from lexir.search.fusion import Fusion, FusionTable, Ranking

DEPTH = 1000  # lexir eval's run depth: every list is this deep, so its z-scores are those eval fuses
CUTOFF = 100  # nDCG@10 reads the top 10 of the run; 100 leaves room for trec_eval's reordering of tied scores
ALPHAS = [round(0.05 * i, 2) for i in range(21)]
K1S = (0.6, 0.9, 1.2, 1.5)
BS = (0.3, 0.4, 0.55, 0.75)
RM3_GRID = list(itertools.product((5, 10, 20), (10, 20, 40), (0.3, 0.5, 0.7)))  # the earlier sweep's grid


def lists(index: str, options: SearchOptions, queries: list[str]) -> list[Ranking]:
    searcher = open_search(index, options)
    try:
        hits = [lists[0] for lists in searcher.lists(queries, DEPTH + 1)]
    finally:
        searcher.close()
    return [Ranking(one.keys, one.scores) for one in hits]


def tune_alpha(sparse: list[Ranking], dense: list[Ranking], dataset: EvalDataset) -> tuple[float, float]:
    """(alpha, nDCG@10) of the best convex z-score weight (1 - alpha, alpha); ties: the smaller alpha."""
    topics = [topic for topic in dataset.topics if topic.searchable]
    measures = parse_measures(["nDCG@10"])
    best_score, best_alpha = -1.0, 0.0
    tables = [FusionTable([one, other], Fusion("convex", normalization="zscore")) for one, other in zip(sparse, dense)]
    for alpha in ALPHAS:
        weights = np.array([round(1 - alpha, 2), alpha])
        hits = [[(str(key), float(score)) for key, score in zip(fused.keys[:CUTOFF + 1], fused.scores[:CUTOFF + 1])]
                for fused in (table.rank(weights, DEPTH + 1) for table in tables)]
        run = run_from_hits(topics, hits, CUTOFF, dataset.is_beir)
        score = score_run(run, dataset.qrels, measures, [topic.query_id for topic in dataset.topics])[0]["nDCG@10"]
        if score > best_score + 1e-12:
            best_score, best_alpha = score, alpha
    return best_alpha, best_score


def build_bm25(corpus: str, folder: Path, k1: float, b: float) -> str:
    out = folder / f"bm25-k{k1}-b{b}"
    if not (out / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "lexir", "index", "build", corpus, "--encoder", "bm25",
                        "--encoder-option", f"k1={k1}", "--encoder-option", f"b={b}", "--out", str(out), "--quiet"],
                       check=True)
    return str(out)


def main(dataset_name: str, corpus: str, dense_index: str, workdir: str) -> None:
    if dataset_name.rstrip("/").endswith("test"):
        raise SystemExit("refusing to tune on a test split: give the dev split")
    dataset = load_dataset(dataset_name)
    queries = [topic.query for topic in dataset.topics if topic.searchable]
    preset = load_preset("offline-best").options
    dense = lists(dense_index, SearchOptions(mode="dense", dense_prf=preset.dense_prf), queries)
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    stage1 = {}
    for k1, b in itertools.product(K1S, BS):
        index = build_bm25(corpus, folder, k1, b)
        alpha, score = tune_alpha(lists(index, SearchOptions(prf=preset.prf), queries), dense, dataset)
        stage1[(k1, b)] = (score, alpha)
        print(f"bm25 k1={k1} b={b} rm3={preset.prf.docs}/{preset.prf.terms}/{preset.prf.weight}\t"
              f"alpha={alpha}\t{score:.4f}", flush=True)
    (k1, b), _ = max(stage1.items(), key=lambda item: (item[1][0], -abs(item[0][0] - 0.9) - abs(item[0][1] - 0.4)))
    index = build_bm25(corpus, folder, k1, b)
    for docs, terms, weight in RM3_GRID:
        prf = replace(preset.prf, docs=docs, terms=terms, weight=weight)
        alpha, score = tune_alpha(lists(index, SearchOptions(prf=prf), queries), dense, dataset)
        print(f"bm25 k1={k1} b={b} rm3={docs}/{terms}/{weight}\talpha={alpha}\t{score:.4f}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
