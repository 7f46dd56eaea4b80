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

from lexir.search.algorithms.cursors import open_cursors, scan_to, skip_blocks
from lexir.search.algorithms.heap import CACHE, heap_push, heap_sorted
from lexir.search.algorithms.postings import PostingArrays, corrupt_result


@njit(cache=CACHE, nogil=True)
def maxscore_top_k(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int, heap_factor: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Top k (doc numbers, float64 scores in impact units) of one query by MaxScore."""
    doc_ids, impacts, term_max = postings.doc_ids, postings.impacts, postings.term_max
    block_last_doc, block_size, num_docs = postings.block_last_doc, postings.block_size, postings.num_docs
    term, weight, start, end, block_start, block_end = open_cursors(postings, terms, weights)
    n = term.shape[0]
    bound = np.empty(n, dtype=np.float64)
    for i in range(n):
        bound[i] = weight[i] * term_max[term[i]]
    order = np.argsort(bound, kind="mergesort")
    weight, start, end = weight[order], start[order], end[order]
    block_start, block_end = block_start[order], block_end[order]
    prefix_bound = np.cumsum(bound[order])
    pos = start.copy()
    block = block_start.copy()

    heap_scores = np.empty(k, dtype=np.float64)
    heap_docs = np.empty(k, dtype=np.int32)
    size = 0
    threshold = -1.0  # below any score until the heap is full
    first_essential = 0
    doc = num_docs
    for i in range(n):
        doc = min(doc, doc_ids[pos[i]])
    while doc < num_docs:
        score = 0.0
        next_doc = num_docs
        for i in range(first_essential, n):
            p = pos[i]
            if p < end[i] and doc_ids[p] == doc:
                score += weight[i] * impacts[p]
                p += 1
                pos[i] = p
            if p < end[i] and doc_ids[p] < next_doc:
                next_doc = doc_ids[p]
        competitive = True
        for i in range(first_essential - 1, -1, -1):
            if heap_factor * (score + prefix_bound[i]) <= threshold:
                competitive = False
                break
            block[i] = skip_blocks(block_last_doc, block[i], block_end[i], doc)
            pos[i] = scan_to(doc_ids, pos[i], end[i], start[i], block_start[i], block[i], block_end[i], block_size,
                             doc)
            if pos[i] < end[i] and doc_ids[pos[i]] == doc:
                score += weight[i] * impacts[pos[i]]
        if competitive and score > threshold:
            size = heap_push(heap_scores, heap_docs, size, score, doc)
            if size == k:
                threshold = heap_scores[0]
                while first_essential < n and heap_factor * prefix_bound[first_essential] <= threshold:
                    first_essential += 1
        doc = next_doc
    for i in range(first_essential, n):  # ascending lists of numbers below num_docs end with every essential
        if pos[i] < end[i]:               # cursor at its end; one stopped short at a number >= num_docs
            return corrupt_result()
    return heap_sorted(heap_scores, heap_docs, size)
