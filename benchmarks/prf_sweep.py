"""Sweep pseudo-relevance feedback settings on a dev split: nDCG@10 per (method, docs, terms, weight).

Usage: python benchmarks/prf_sweep.py INDEX DATASET [sparse|dense]
Each query set is searched in batch through `open_search`, as `lexir eval` does, once per setting; the
settings that `lexir` takes as defaults were chosen from this sweep on beir/nfcorpus/dev (never on test).
"""

from __future__ import annotations

import itertools
import sys

from lexir.eval.datasets import load_dataset
from lexir.eval.measures import parse_measures, score_run
from lexir.eval.runs import search_topics
from lexir.search import SearchOptions, open_search
from lexir.search.feedback import Feedback

DEPTH = 100


def ndcg(index: str, dataset_name: str, options: SearchOptions) -> float:
    dataset = load_dataset(dataset_name)
    searcher = open_search(index, options)
    try:
        run = search_topics(searcher, dataset.topics, DEPTH, dataset.is_beir, batch=None)
    finally:
        searcher.close()
    aggregate, _ = score_run(run, dataset.qrels, parse_measures(["nDCG@10"]),
                             [topic.query_id for topic in dataset.topics])
    return aggregate["nDCG@10"]


def main() -> None:
    index, dataset, side = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "sparse")
    if side == "dense":
        print(f"none\t{ndcg(index, dataset, SearchOptions(mode='dense')):.4f}", flush=True)
        for docs, weight in itertools.product((1, 3, 5, 10), (0.5, 0.7, 0.8, 0.9)):
            options = SearchOptions(mode="dense", dense_prf=Feedback("rocchio", docs=docs, weight=weight))
            print(f"rocchio docs={docs} weight={weight}\t{ndcg(index, dataset, options):.4f}", flush=True)
        return
    methods = sys.argv[4].split(",") if len(sys.argv) > 4 else ["rm3", "rocchio"]
    print(f"none\t{ndcg(index, dataset, SearchOptions()):.4f}", flush=True)
    for method, docs, terms, weight in itertools.product(methods, (5, 10, 20), (10, 20, 40), (0.3, 0.5, 0.7)):
        options = SearchOptions(prf=Feedback(method, docs=docs, terms=terms, weight=weight))
        print(f"{method} docs={docs} terms={terms} weight={weight}\t{ndcg(index, dataset, options):.4f}", flush=True)


if __name__ == "__main__":
    main()
