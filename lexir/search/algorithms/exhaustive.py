"""Exhaustive (term-at-a-time) top-k scoring over posting arrays, compiled with numba.

The kernel has a slow, obvious numpy twin in `reference.py` that the tests hold it to. Scores are
accumulated in float64: with query weights on the grid of `exact.py` every sum is exact, so the
pruning algorithms, which add the same products in other orders, return bit-identical scores.
Ties are broken by the lower document number, so results are deterministic.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.index.codec import decode_block
from lexir.search.algorithms.heap import CACHE, heap_push, heap_sorted, sift_down, worse
from lexir.search.algorithms.postings import PostingArrays, corrupt_result, query_postings

SCAN_RATIO = 16


@njit(cache=CACHE, nogil=True)
def exhaustive_top_k(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Score every document that matches a query term; return the top k (doc numbers, float64 scores in
    impact units).

    When the query's lists hold at least num_docs / SCAN_RATIO postings, the k best are found by one pass
    over the score array (no per-posting bookkeeping, about twice as fast); else from a list of the
    documents touched.
    """
    num_docs = postings.num_docs
    length = query_postings(postings.offsets, terms)
    if length * SCAN_RATIO >= num_docs:
        return _exhaustive_scan(postings, terms, weights, k)
    scores = np.zeros(num_docs, dtype=np.float64)
    touched = np.zeros(num_docs, dtype=np.bool_)
    candidates = np.empty(length, dtype=np.int32)
    block_offsets, impacts = postings.block_offsets, postings.impacts
    docs = np.empty(postings.block_size, dtype=np.int32)
    count = 0
    for q in range(terms.shape[0]):
        term = terms[q]
        weight = np.float64(weights[q])
        for block in range(block_offsets[term], block_offsets[term + 1]):
            first, size, ok = decode_block(postings, term, block, docs)
            if not ok:
                return corrupt_result()
            for j in range(size):
                doc = docs[j]
                scores[doc] += weight * impacts[first + j]
                if not touched[doc]:
                    touched[doc] = True
                    candidates[count] = doc
                    count += 1
    return _top_k_of(candidates[:count], scores, k)


@njit(cache=CACHE, nogil=True)
def _top_k_of(candidates: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (score desc, doc asc) of `candidates`, sorted best first: a heap of the first k, then
    each later candidate replaces the root when it ranks above it."""
    size = min(k, candidates.shape[0])
    heap_scores = np.empty(size, dtype=scores.dtype)
    heap_docs = np.empty(size, dtype=np.int32)
    for i in range(size):
        heap_scores[i] = scores[candidates[i]]
        heap_docs[i] = candidates[i]
    for position in range(size // 2 - 1, -1, -1):
        sift_down(heap_scores, heap_docs, size, position)
    for i in range(size, candidates.shape[0]):
        doc = candidates[i]
        if worse(heap_scores[0], heap_docs[0], scores[doc], doc):
            heap_scores[0] = scores[doc]
            heap_docs[0] = doc
            sift_down(heap_scores, heap_docs, size, 0)
    return heap_sorted(heap_scores, heap_docs, size)


@njit(cache=CACHE, nogil=True)
def _exhaustive_scan(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive scoring, then the k best in one pass over all scores (documents in increasing number, so
    a score equal to the threshold never displaces the lower number already kept)."""
    num_docs = postings.num_docs
    scores = np.zeros(num_docs, dtype=np.float64)
    block_offsets, impacts = postings.block_offsets, postings.impacts
    docs = np.empty(postings.block_size, dtype=np.int32)
    for q in range(terms.shape[0]):
        term = terms[q]
        weight = np.float64(weights[q])
        for block in range(block_offsets[term], block_offsets[term + 1]):
            first, size, ok = decode_block(postings, term, block, docs)
            if not ok:
                return corrupt_result()
            for j in range(size):
                scores[docs[j]] += weight * impacts[first + j]
    heap_scores = np.empty(k, dtype=np.float64)
    heap_docs = np.empty(k, dtype=np.int32)
    size = 0
    threshold = 0.0  # matching documents score above 0: weights are positive, impacts at least 1
    for doc in range(num_docs):
        score = scores[doc]
        if score > threshold:
            size = heap_push(heap_scores, heap_docs, size, score, doc)
            if size == k:
                threshold = heap_scores[0]
    return heap_sorted(heap_scores, heap_docs, size)
