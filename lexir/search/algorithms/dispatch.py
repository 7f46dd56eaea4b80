"""One entry point per calling style (one query, or a batch in parallel) over every exact algorithm.

Algorithms are named by small integer codes (codes.py) so that a batch can mix them inside one parallel
loop over queries; AUTO applies the rule of choice.py to each query inside the kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from lexir.search.algorithms.block_max_maxscore import block_max_maxscore_top_k
from lexir.search.algorithms.choice import choose
from lexir.search.algorithms.codes import AUTO, BLOCK_MAX_MAXSCORE, MAXSCORE
from lexir.search.algorithms.maxscore import maxscore_top_k
from lexir.search.algorithms.heap import CACHE
from lexir.search.algorithms.exhaustive import exhaustive_top_k


@njit(cache=CACHE, nogil=True)
def top_k(code: int, offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, term_max: np.ndarray,
          block_offsets: np.ndarray, block_max: np.ndarray, block_last_doc: np.ndarray, block_size: int,
          terms: np.ndarray, weights: np.ndarray, num_docs: int, k: int, heap_factor: float, window: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Top k of one query (doc numbers, float64 scores in impact units) with the algorithm `code`."""
    if code == AUTO:
        code = choose(offsets, terms, num_docs)
    if code == MAXSCORE:
        return maxscore_top_k(offsets, doc_ids, impacts, term_max, block_offsets, block_last_doc, block_size, terms,
                              weights, num_docs, k, heap_factor)
    if code == BLOCK_MAX_MAXSCORE:
        return block_max_maxscore_top_k(offsets, doc_ids, impacts, block_offsets, block_max, block_last_doc,
                                        block_size, terms, weights, num_docs, k, heap_factor, window)
    return exhaustive_top_k(offsets, doc_ids, impacts, terms, weights, num_docs, k)


@njit(cache=CACHE, parallel=True)
def top_k_batch(codes: np.ndarray, offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray,
                term_max: np.ndarray, block_offsets: np.ndarray, block_max: np.ndarray, block_last_doc: np.ndarray,
                block_size: int, query_offsets: np.ndarray, terms: np.ndarray, weights: np.ndarray, num_docs: int,
                k: int, heap_factor: float, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many CSR-flattened queries in parallel threads, query i with algorithm codes[i].

    Returns (docs[Q, k], scores[Q, k], counts[Q]); row i holds counts[i] valid hits.
    """
    num_queries = query_offsets.shape[0] - 1
    out_docs = np.full((num_queries, k), -1, dtype=np.int32)
    out_scores = np.zeros((num_queries, k), dtype=np.float64)
    counts = np.zeros(num_queries, dtype=np.int64)
    for q in prange(num_queries):
        span = slice(query_offsets[q], query_offsets[q + 1])
        docs, scores = top_k(codes[q], offsets, doc_ids, impacts, term_max, block_offsets, block_max,
                             block_last_doc, block_size, terms[span], weights[span], num_docs, k, heap_factor,
                             window)
        counts[q] = docs.shape[0]
        out_docs[q, : docs.shape[0]] = docs
        out_scores[q, : docs.shape[0]] = scores
    return out_docs, out_scores, counts
