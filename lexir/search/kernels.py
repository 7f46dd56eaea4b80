"""Exhaustive (term-at-a-time) top-k scoring over posting arrays, compiled with numba.

Each kernel is a plain function over numpy arrays and has a slow, obvious numpy twin
in `reference.py` that the tests hold it to. Scores are accumulated in float32 in
query-term order, so twin and kernel agree bit for bit; ties are broken by the lower
document number, so results are deterministic.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit, prange

_CACHE = os.environ.get("LEXIR_NUMBA_CACHE", "1") != "0"


@njit(cache=_CACHE, nogil=True, inline="always")
def _worse(score_a: float, doc_a: int, score_b: float, doc_b: int) -> bool:
    """True when (score_a, doc_a) ranks below (score_b, doc_b)."""
    return score_a < score_b or (score_a == score_b and doc_a > doc_b)


@njit(cache=_CACHE, nogil=True)
def _sift_down(heap_scores: np.ndarray, heap_docs: np.ndarray, size: int, position: int) -> None:
    while True:
        left = 2 * position + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _worse(heap_scores[right], heap_docs[right], heap_scores[left], heap_docs[left]):
            child = right
        if not _worse(heap_scores[child], heap_docs[child], heap_scores[position], heap_docs[position]):
            return
        heap_scores[child], heap_scores[position] = heap_scores[position], heap_scores[child]
        heap_docs[child], heap_docs[position] = heap_docs[position], heap_docs[child]
        position = child


@njit(cache=_CACHE, nogil=True)
def top_k_of(candidates: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (score desc, doc asc) of `candidates`, sorted best first."""
    size = min(k, candidates.shape[0])
    heap_scores = np.empty(size, dtype=np.float32)
    heap_docs = np.empty(size, dtype=np.int32)
    for i in range(size):
        heap_scores[i] = scores[candidates[i]]
        heap_docs[i] = candidates[i]
    for position in range(size // 2 - 1, -1, -1):
        _sift_down(heap_scores, heap_docs, size, position)
    for i in range(size, candidates.shape[0]):
        doc = candidates[i]
        if _worse(heap_scores[0], heap_docs[0], scores[doc], doc):
            heap_scores[0] = scores[doc]
            heap_docs[0] = doc
            _sift_down(heap_scores, heap_docs, size, 0)
    for end in range(size - 1, 0, -1):
        heap_scores[0], heap_scores[end] = heap_scores[end], heap_scores[0]
        heap_docs[0], heap_docs[end] = heap_docs[end], heap_docs[0]
        _sift_down(heap_scores, heap_docs, end, 0)
    return heap_docs, heap_scores


@njit(cache=_CACHE, nogil=True)
def exhaustive_top_k(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, terms: np.ndarray,
                     weights: np.ndarray, num_docs: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Score every document that matches a query term; return the top k (doc numbers, scores in impact units)."""
    scores = np.zeros(num_docs, dtype=np.float32)
    touched = np.zeros(num_docs, dtype=np.bool_)
    candidates = np.empty(num_docs, dtype=np.int32)
    count = 0
    for q in range(terms.shape[0]):
        term = terms[q]
        weight = weights[q]
        for p in range(offsets[term], offsets[term + 1]):
            doc = doc_ids[p]
            scores[doc] += weight * np.float32(impacts[p])
            if not touched[doc]:
                touched[doc] = True
                candidates[count] = doc
                count += 1
    return top_k_of(candidates[:count], scores, k)


@njit(cache=_CACHE, parallel=True)
def exhaustive_top_k_batch(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, query_offsets: np.ndarray,
                           terms: np.ndarray, weights: np.ndarray, num_docs: int, k: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many queries (CSR-flattened: query i owns terms[query_offsets[i]:query_offsets[i+1]]) in parallel.

    Returns (docs[Q, k], scores[Q, k], counts[Q]); row i holds counts[i] valid hits.
    """
    num_queries = query_offsets.shape[0] - 1
    out_docs = np.full((num_queries, k), -1, dtype=np.int32)
    out_scores = np.zeros((num_queries, k), dtype=np.float32)
    counts = np.zeros(num_queries, dtype=np.int64)
    for i in prange(num_queries):
        start, end = query_offsets[i], query_offsets[i + 1]
        docs, scores = exhaustive_top_k(offsets, doc_ids, impacts, terms[start:end], weights[start:end], num_docs, k)
        counts[i] = docs.shape[0]
        out_docs[i, : docs.shape[0]] = docs
        out_scores[i, : docs.shape[0]] = scores
    return out_docs, out_scores, counts
