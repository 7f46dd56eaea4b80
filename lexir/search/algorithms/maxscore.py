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

from lexir.search.algorithms.cursors import (
    DOC,
    END,
    FIRST,
    POS,
    next_block,
    open_cursors,
    scoring_terms,
    seek,
)
from lexir.search.algorithms.heap import CACHE, heap_push, heap_sorted
from lexir.search.algorithms.postings import PostingArrays, corrupt_result


@njit(cache=CACHE, nogil=True)
def maxscore_top_k(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int, heap_factor: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Top k (doc numbers, float64 scores in impact units) of one query by MaxScore."""
    packed, block_words, impacts = postings.doc_blocks, postings.block_words, postings.impacts
    block_last_doc, block_size, num_docs = postings.block_last_doc, postings.block_size, postings.num_docs
    term, weight = scoring_terms(postings, terms, weights)
    n = term.shape[0]
    bound = np.empty(n, dtype=np.float64)
    for i in range(n):
        bound[i] = weight[i] * postings.term_max[term[i]]
    order = np.argsort(bound, kind="mergesort")
    prefix_bound = np.cumsum(bound[order])
    weight = weight[order]
    state, docs, ok = open_cursors(postings, term[order])
    if not ok:
        return corrupt_result()

    heap_scores = np.empty(k, dtype=np.float64)
    heap_docs = np.empty(k, dtype=np.int32)
    size = 0
    threshold = -1.0  # below any score until the heap is full
    first_essential = 0
    doc = num_docs
    for i in range(n):
        doc = min(doc, state[i, DOC])
    while doc < num_docs:
        score = 0.0
        next_doc = num_docs
        for i in range(first_essential, n):
            if state[i, DOC] == doc:  # score the posting, move to the next (see cursors.py)
                j = state[i, POS] - state[i, FIRST]
                score += weight[i] * impacts[state[i, POS]]
                state[i, POS] += 1
                if state[i, POS] >= state[i, END]:
                    state[i, DOC] = num_docs
                elif j + 1 < block_size:
                    state[i, DOC] = docs[i, j + 1]
                elif not next_block(packed, block_words, block_last_doc, num_docs, block_size, state,
                                    docs, i):
                    return corrupt_result()
            if state[i, DOC] < next_doc:
                next_doc = state[i, DOC]
        competitive = True
        for i in range(first_essential - 1, -1, -1):
            if heap_factor * (score + prefix_bound[i]) <= threshold:
                competitive = False
                break
            if state[i, DOC] < doc:  # probe for doc: in the decoded block, or seek a later one
                first = state[i, FIRST]
                if docs[i, min(block_size, state[i, END] - first) - 1] >= doc:
                    j = state[i, POS] - first
                    while docs[i, j] < doc:
                        j += 1
                    state[i, POS] = first + j
                    state[i, DOC] = docs[i, j]
                elif not seek(packed, block_words, block_last_doc, num_docs, block_size, state, docs, i,
                              doc):
                    return corrupt_result()
            if state[i, DOC] == doc:
                score += weight[i] * impacts[state[i, POS]]
        if competitive and score > threshold:
            size = heap_push(heap_scores, heap_docs, size, score, doc)
            if size == k:
                threshold = heap_scores[0]
                while first_essential < n and heap_factor * prefix_bound[first_essential] <= threshold:
                    first_essential += 1
        doc = next_doc
    return heap_sorted(heap_scores, heap_docs, size)
