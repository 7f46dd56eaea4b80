"""What guarding the kernels against damaged postings costs, against checking every posting when an index opens.

    lexir index build ../shared/data/corpora/imdb-100k.jsonl.gz --encoder bm25 --out /tmp/imdb-bm25
    PYTHONPATH=TREE python benchmarks/bounds_checks.py /tmp/imdb-bm25        # once per source tree compared

Prints one JSON line: the mean of per-query best-of-9 latencies (µs, one thread, the kernels called directly)
of exhaustive, MaxScore and block-max MaxScore over 600 queries of 2-8 consecutive words of IMDb reviews, and
the seconds of decoding every block of doc_blocks.npy (format version 2; what checking them all at open would
cost) with its pages evicted first (cold) and then cached (warm). Run it
alternately on a tree with and without the checks (e.g. `git archive 45233d3 lexir | tar -x -C /tmp/base`);
docs/architecture.md ("Top-k algorithms", "Bounds") has the figures and the choice they led to.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

from lexir.index import InvertedIndex
from lexir.search.algorithms import ALGORITHMS
from lexir.search.algorithms.dispatch import DEFAULT_WINDOW, kernel_queries, posting_arrays, top_k

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora" / "imdb-100k.jsonl.gz"
ALGORITHM_NAMES = ("exhaustive", "maxscore", "block_max_maxscore")


def queries(count: int = 600, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number % 97 == 0:
                texts.append(json.loads(line)["text"].split())
    chosen = []
    for words in texts[:count]:
        length = int(rng.integers(2, 9))
        start = int(rng.integers(0, max(1, len(words) - length)))
        chosen.append(" ".join(words[start:start + length]))
    return chosen


def kernel_latencies(index: InvertedIndex, texts: list[str], repeats: int = 9) -> dict[str, float]:
    numba.set_num_threads(1)
    vectors = index.load_encoder().encode_queries(texts)
    postings = posting_arrays(index)
    rows = [kernel_queries(vectors[i], index.quantizer.bits) for i in range(vectors.shape[0])]
    for name in ALGORITHM_NAMES:  # compile (or load from numba's cache) before timing
        top_k(ALGORITHMS[name], postings, rows[0].terms, rows[0].weights, 10, 1.0, DEFAULT_WINDOW)
    best = {name: np.full(len(rows), np.inf) for name in ALGORITHM_NAMES}
    for _ in range(repeats):
        for q, row in enumerate(rows):
            for name in ALGORITHM_NAMES:
                started = time.perf_counter()
                top_k(ALGORITHMS[name], postings, row.terms, row.weights, 10, 1.0, DEFAULT_WINDOW)
                best[name][q] = min(best[name][q], time.perf_counter() - started)
    return {f"{name}_us": round(float(times.mean()) * 1e6, 2) for name, times in best.items()}


def scan_seconds(index: InvertedIndex) -> dict[str, float]:
    descriptor = os.open(index.path / "doc_blocks.npy", os.O_RDONLY)
    os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)  # clean pages leave the cache
    os.close(descriptor)
    figures = {}
    for label in ("scan_cold_s", "scan_warm_s"):
        started = time.perf_counter()
        for _ in index.decoded_pieces():
            pass
        figures[label] = round(time.perf_counter() - started, 4)
    return figures


def main() -> None:
    index = InvertedIndex(sys.argv[1])
    figures = {"postings": index.manifest.num_postings, **kernel_latencies(index, queries()),
               **scan_seconds(index)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
