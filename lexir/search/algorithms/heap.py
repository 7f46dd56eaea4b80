"""A k-sized min-heap of (score, document number) shared by every top-k kernel.

The heap's root is the worst kept hit, so its score is the threshold a new document must beat.
Order is total: a higher score ranks first, and equal scores go to the lower document number, so
every algorithm that offers the same scored documents keeps exactly the same k, whatever the order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.jit import CACHE


@njit(cache=CACHE, nogil=True, inline="always")
def worse(score_a: float, doc_a: int, score_b: float, doc_b: int) -> bool:
    """True when (score_a, doc_a) ranks below (score_b, doc_b)."""
    return score_a < score_b or (score_a == score_b and doc_a > doc_b)


@njit(cache=CACHE, nogil=True)
def sift_down(heap_scores: np.ndarray, heap_docs: np.ndarray, size: int, position: int) -> None:
    while True:
        left = 2 * position + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and worse(heap_scores[right], heap_docs[right], heap_scores[left], heap_docs[left]):
            child = right
        if not worse(heap_scores[child], heap_docs[child], heap_scores[position], heap_docs[position]):
            return
        heap_scores[child], heap_scores[position] = heap_scores[position], heap_scores[child]
        heap_docs[child], heap_docs[position] = heap_docs[position], heap_docs[child]
        position = child


@njit(cache=CACHE, nogil=True)
def heap_push(heap_scores: np.ndarray, heap_docs: np.ndarray, size: int, score: float, doc: int) -> int:
    """Offer one hit to a heap of capacity len(heap_scores); return the new size."""
    if size < heap_scores.shape[0]:
        position = size
        heap_scores[position] = score
        heap_docs[position] = doc
        while position > 0:
            parent = (position - 1) // 2
            if not worse(heap_scores[position], heap_docs[position], heap_scores[parent], heap_docs[parent]):
                break
            heap_scores[parent], heap_scores[position] = heap_scores[position], heap_scores[parent]
            heap_docs[parent], heap_docs[position] = heap_docs[position], heap_docs[parent]
            position = parent
        return size + 1
    if worse(heap_scores[0], heap_docs[0], score, doc):
        heap_scores[0] = score
        heap_docs[0] = doc
        sift_down(heap_scores, heap_docs, size, 0)
    return size


@njit(cache=CACHE, nogil=True)
def heap_sorted(heap_scores: np.ndarray, heap_docs: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Heap-sort the first `size` entries in place; return (docs, scores) best first."""
    for end in range(size - 1, 0, -1):
        heap_scores[0], heap_scores[end] = heap_scores[end], heap_scores[0]
        heap_docs[0], heap_docs[end] = heap_docs[end], heap_docs[0]
        sift_down(heap_scores, heap_docs, end, 0)
    return heap_docs[:size].copy(), heap_scores[:size].copy()
