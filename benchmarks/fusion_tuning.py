"""What a fusion weight search (`lexir eval --tune-on`) spends on fusing: each query's lists fused anew for every
weight vector (`fuse`, as before) against one FusionTable per query ranked under every vector, same lists, same run.

    .venv/bin/python benchmarks/fusion_tuning.py INDEX DATASET [ROUNDS]
    .venv/bin/python benchmarks/fusion_tuning.py /tmp/rel3/final/nf-k0.9-b0.55 beir/nfcorpus/dev 3

INDEX has a dense side; its sparse and dense lists (1,001 deep, as `lexir eval` fuses them) are searched once, then
the 21 alphas of the two-retriever grid are fused both ways, convex z-score, ROUNDS times in alternation; prints the
best round's seconds of each and their ratio, after checking that both give the same hits.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from lexir.eval import load_dataset
from lexir.eval.tuning import ALPHA_GRID, alpha_weights
from lexir.search import SearchOptions, open_search
from lexir.search.fusion import Fusion, FusionTable, fuse

DEPTH = 1001


def main(index: str, dataset_name: str, rounds: int = 3) -> None:
    queries = [topic.query for topic in load_dataset(dataset_name).topics if topic.searchable]
    fusion = Fusion("convex", normalization="zscore")
    searcher = open_search(index, SearchOptions(mode="hybrid", fusion=fusion))
    try:
        lists = searcher.lists(queries, DEPTH)
    finally:
        searcher.close()
    vectors = [np.asarray(alpha_weights(alpha)) for alpha in ALPHA_GRID]

    def anew() -> list:
        return [fuse(one, Fusion("convex", tuple(vector), "zscore"), DEPTH) for vector in vectors for one in lists]

    def tabled() -> list:
        tables = [FusionTable(one, fusion) for one in lists]
        return [table.rank(vector, DEPTH) for vector in vectors for table in tables]

    for old, new in zip(anew(), tabled()):
        assert np.array_equal(old.keys, new.keys) and np.array_equal(old.scores, new.scores)
    best = {"fused anew per weight vector": float("inf"), "one table per query": float("inf")}
    for _ in range(rounds):
        for name, run in zip(best, (anew, tabled)):
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"{len(queries)} queries x {len(vectors)} weight vectors, lists {DEPTH} deep, best of {rounds}")
    for name, seconds in best.items():
        print(f"{name}\t{seconds:.2f} s")
    print(f"ratio (table / anew)\t{best['one table per query'] / best['fused anew per weight vector']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(arg) for arg in sys.argv[3:4]))
