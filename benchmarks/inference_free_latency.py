"""End-to-end query latency of inference-free queries against BM25 and siamese SPLADE, in one run.

    python benchmarks/inference_free_latency.py --bm25 DIR --inference-free DIR [--splade DIR]
        [--dataset beir/nfcorpus/test] [--rounds 3]

Each index answers every query of the dataset one at a time (tokenization or encoding included,
single-threaded top-10), the engines interleaved query by query so that machine load hits them
alike. Prints mean / p50 / p99 per engine, the ratio over the first round alone (no query seen before,
so neither the inference-free word cache nor BM25's stemmer cache helps), and, last,
`inference-free/BM25 mean latency ratio: X` over all rounds.
"""

from __future__ import annotations

import argparse
import time

import ir_datasets
import numpy as np

from lexir.search import Searcher, open_search


def time_query(searcher: Searcher, text: str) -> float:
    started = time.perf_counter()
    searcher.rank_one(text, 10)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bm25", required=True)
    parser.add_argument("--inference-free", required=True)
    parser.add_argument("--splade")
    parser.add_argument("--dataset", default="beir/nfcorpus/test")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = [query.text for query in ir_datasets.load(args.dataset).queries_iter()]
    engines = {"BM25": open_search(args.bm25), "inference-free": open_search(args.inference_free)}
    if args.splade:
        engines["SPLADE (siamese)"] = open_search(args.splade)
    for searcher in engines.values():
        searcher.warm_up()
        time_query(searcher, texts[0])
    latencies: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for text in texts:
            for name, searcher in engines.items():
                latencies[name].append(time_query(searcher, text))
    first = {name: np.mean(values[: len(texts)]) for name, values in latencies.items()}
    print(f"{args.dataset}: {len(texts)} queries x {args.rounds} rounds, top-10, one query at a time")
    for name, values in latencies.items():
        array = np.array(values)
        print(f"{name:>18}: mean {array.mean():.3f} ms  p50 {np.percentile(array, 50):.3f} ms  "
              f"p99 {np.percentile(array, 99):.3f} ms")
    print(f"first round only (queries never seen: no cached token ids or stems): inference-free/BM25 "
          f"{first['inference-free'] / first['BM25']:.2f}")
    ratio = np.mean(latencies["inference-free"]) / np.mean(latencies["BM25"])
    print(f"inference-free/BM25 mean latency ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
