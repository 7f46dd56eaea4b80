"""Does document reordering help block-max pruning here? Recursive graph bisection (BP), measured.

    python benchmarks/reorder_experiment.py [--set imdb-splade] [--max-queries 300]

Builds the collection in its original order and in BP order, and times every exact algorithm on both
(best of 3). Not part of the library: on these collections it did not pay (docs/benchmarks.md).

BP, so that similar documents get close numbers:

Dhulipala, Kabiljo, Karrer, Ottaviano, Pupyrev & Shalita, "Compressing graphs and indexes with recursive
graph bisection" (KDD 2016), as simplified by Mackenzie, Petri & Moffat ("Faster index reordering with
bipartite graph partitioning", SIGIR 2021): split the documents in two halves, swap the pairs of
documents whose move most lowers the estimated log-gap cost of the posting lists, repeat, recurse.
Posting-list blocks then hold documents that share terms, so block maxima are tighter and block-max
pruning skips more. Only the order of the rows changes; vectors and scores are untouched.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

CACHE = False

LEAF_SIZE = 16
ITERATIONS = 20


@njit(cache=CACHE, nogil=True, inline="always")
def _cost(degree: int, size: int, log2: np.ndarray) -> float:
    """Estimated bits of a list with `degree` documents among `size` (log-gap model); log2[x] = log2(x)."""
    return degree * (log2[size] - log2[degree + 1])


@njit(cache=CACHE, nogil=True)
def _bisect(indptr: np.ndarray, indices: np.ndarray, order: np.ndarray, low: int, high: int,
            left_degree: np.ndarray, right_degree: np.ndarray, gains: np.ndarray, log2: np.ndarray,
            iterations: int) -> None:
    middle = (low + high) // 2
    left_size, right_size = middle - low, high - middle
    for i in range(low, high):
        doc = order[i]
        for p in range(indptr[doc], indptr[doc + 1]):
            if i < middle:
                left_degree[indices[p]] += 1
            else:
                right_degree[indices[p]] += 1
    for _ in range(iterations):
        for i in range(low, high):
            doc = order[i]
            gain = 0.0
            for p in range(indptr[doc], indptr[doc + 1]):
                left, right = left_degree[indices[p]], right_degree[indices[p]]
                if i < middle:
                    gain += (_cost(left, left_size, log2) + _cost(right, right_size, log2)
                             - _cost(left - 1, left_size, log2) - _cost(right + 1, right_size, log2))
                else:
                    gain += (_cost(left, left_size, log2) + _cost(right, right_size, log2)
                             - _cost(left + 1, left_size, log2) - _cost(right - 1, right_size, log2))
            gains[i] = gain
        left_rank = np.argsort(-gains[low:middle]) + low
        right_rank = np.argsort(-gains[middle:high]) + middle
        swapped = 0
        for j in range(min(left_size, right_size)):
            a, b = left_rank[j], right_rank[j]
            if gains[a] + gains[b] <= 0:
                break
            for p in range(indptr[order[a]], indptr[order[a] + 1]):
                left_degree[indices[p]] -= 1
                right_degree[indices[p]] += 1
            for p in range(indptr[order[b]], indptr[order[b] + 1]):
                right_degree[indices[p]] -= 1
                left_degree[indices[p]] += 1
            order[a], order[b] = order[b], order[a]
            swapped += 1
        if swapped == 0:
            break
    for i in range(low, high):
        doc = order[i]
        for p in range(indptr[doc], indptr[doc + 1]):
            left_degree[indices[p]] = 0
            right_degree[indices[p]] = 0


@njit(cache=CACHE, nogil=True)
def _bp_order(indptr: np.ndarray, indices: np.ndarray, num_terms: int, leaf_size: int, iterations: int
              ) -> np.ndarray:
    num_docs = indptr.shape[0] - 1
    order = np.arange(num_docs)
    left_degree = np.zeros(num_terms, dtype=np.int64)
    right_degree = np.zeros(num_terms, dtype=np.int64)
    gains = np.zeros(num_docs, dtype=np.float64)
    log2 = np.log2(np.maximum(np.arange(num_docs + 2), 1).astype(np.float64))
    ranges = [(0, num_docs)]
    while ranges:
        low, high = ranges.pop()
        if high - low <= leaf_size:
            continue
        _bisect(indptr, indices, order, low, high, left_degree, right_degree, gains, log2, iterations)
        middle = (low + high) // 2
        ranges.append((low, middle))
        ranges.append((middle, high))
    return order


def bp_order(documents: sp.csr_matrix, leaf_size: int = LEAF_SIZE, iterations: int = ITERATIONS) -> np.ndarray:
    """A new document order: position i holds the old row number order[i]."""
    documents = sp.csr_matrix(documents)
    return _bp_order(documents.indptr.astype(np.int64), documents.indices.astype(np.int64), documents.shape[1],
                     leaf_size, iterations)


def main() -> None:
    import argparse
    import sys
    import tempfile
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import anchors
    import query_speed

    from lexir.index import InvertedIndex
    from lexir.search.algorithms import BLOCK_MAX_MAXSCORE, EXHAUSTIVE, MAXSCORE
    from lexir.search.algorithms.dispatch import kernel_queries, posting_arrays, top_k

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="imdb-splade")
    parser.add_argument("--max-queries", type=int, default=300)
    args = parser.parse_args()
    vectors = next(query_speed.vector_sets([args.set], quick=False))
    documents = query_speed.integer_documents(vectors.documents)
    queries = query_speed.integer_queries(vectors.queries)[:args.max_queries]
    began = time.perf_counter()
    order = bp_order(documents)
    print(f"{vectors.name}: BP order of {documents.shape[0]:,} documents in {time.perf_counter() - began:.1f} s")
    kernel = kernel_queries(queries, 8)
    configs = {"exhaustive": (EXHAUSTIVE, 4096), "maxscore": (MAXSCORE, 4096),
               "block_max_maxscore w=4096": (BLOCK_MAX_MAXSCORE, 4096),
               "block_max_maxscore w=16384": (BLOCK_MAX_MAXSCORE, 16384)}
    for label, rows in (("original order", documents), ("BP order", documents[order])):
        folder = Path(tempfile.mkdtemp(prefix="lexir-bp-"))
        anchors.Lexir("exhaustive").build(anchors.Collection(label, rows, queries), folder)
        index = InvertedIndex(folder)
        postings = posting_arrays(index)
        for name, (code, window) in configs.items():
            best = np.full(len(kernel.offsets) - 1, np.inf)
            for _ in range(3):
                for q in range(len(best)):
                    span = slice(kernel.offsets[q], kernel.offsets[q + 1])
                    start = time.perf_counter()
                    top_k(code, postings, kernel.terms[span], kernel.weights[span], 10, 1.0, window)
                    best[q] = min(best[q], time.perf_counter() - start)
            print(f"  {label:15s} {name:28s} mean {best.mean() * 1000:.3f} ms")


if __name__ == "__main__":
    main()
