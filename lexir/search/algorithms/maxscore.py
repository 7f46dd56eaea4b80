"""MaxScore, document at a time (Turtle & Flood, "Query evaluation: strategies and optimizations", 1995).

Terms are ordered by their upper bound (query weight x the list's largest impact). The longest
prefix of that order whose bounds sum to at most the current threshold is "non-essential": a
document found only in those lists cannot enter the top k, so only the essential lists are
traversed, and the non-essential ones are probed (by block skipping) for the documents found, in
decreasing bound order, stopping as soon as the score plus the remaining bounds cannot beat the
threshold. Documents are visited in increasing number, so a document enters only with a score
strictly above the threshold (an equal score loses the tie to the lower numbers already kept).

`heap_factor` < 1 multiplies every bound before it is compared (approximate, faster); 1 is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms.cursors import advance_to, impact, next_posting, open_cursors, scoring_terms
from lexir.search.algorithms.heap import CACHE, heap_push, heap_sorted
from lexir.search.algorithms.postings import PostingArrays, corrupt_result


@njit(cache=CACHE, nogil=True)
def maxscore_top_k(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int, heap_factor: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Top k (doc numbers, float64 scores in impact units) of one query by MaxScore."""
    term, weight = scoring_terms(postings, terms, weights)
    n = term.shape[0]
    bound = np.empty(n, dtype=np.float64)
    for i in range(n):
        bound[i] = weight[i] * postings.term_max[term[i]]
    order = np.argsort(bound, kind="mergesort")
    prefix_bound = np.cumsum(bound[order])
    cursors, ok = open_cursors(postings, term[order], weight[order])
    if not ok:
        return corrupt_result()
    weight, num_docs = cursors.weight, postings.num_docs

    heap_scores = np.empty(k, dtype=np.float64)
    heap_docs = np.empty(k, dtype=np.int32)
    size = 0
    threshold = -1.0  # below any score until the heap is full
    first_essential = 0
    doc = num_docs
    for i in range(n):
        doc = min(doc, cursors.doc[i])
    while doc < num_docs:
        score = 0.0
        next_doc = num_docs
        for i in range(first_essential, n):
            if cursors.doc[i] == doc:
                score += weight[i] * impact(cursors, i)
                if not next_posting(postings, cursors, i):
                    return corrupt_result()
            if cursors.doc[i] < next_doc:
                next_doc = cursors.doc[i]
        competitive = True
        for i in range(first_essential - 1, -1, -1):
            if heap_factor * (score + prefix_bound[i]) <= threshold:
                competitive = False
                break
            if not advance_to(postings, cursors, i, doc):
                return corrupt_result()
            if cursors.doc[i] == doc:
                score += weight[i] * impact(cursors, i)
        if competitive and score > threshold:
            size = heap_push(heap_scores, heap_docs, size, score, doc)
            if size == k:
                threshold = heap_scores[0]
                while first_essential < n and heap_factor * prefix_bound[first_essential] <= threshold:
                    first_essential += 1
        doc = next_doc
    return heap_sorted(heap_scores, heap_docs, size)
