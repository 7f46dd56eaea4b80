"""MaxScore (Turtle & Flood, "Query evaluation: strategies and optimizations", 1995), over document windows.

Terms are ordered by their upper bound (query weight x the list's largest impact). The longest
prefix of that order whose bounds sum to at most the current threshold is "non-essential": a
document found only in those lists cannot enter the top k, so only the essential lists are
traversed, and the non-essential ones are probed (by block skipping) for the documents found, in
decreasing bound order, stopping as soon as the score plus the remaining bounds cannot beat the
threshold. The essential lists are traversed a window of documents at a time, term at a time into
an accumulator (windows.py: no per-cursor branch per candidate), and the candidates of a window are
then visited in increasing number, so a document enters only with a score strictly above the
threshold (an equal score loses the tie to the lower numbers already kept). The essential set is
re-split between windows.

`heap_factor` < 1 multiplies every bound before it is compared (approximate, faster); 1 is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms.cursors import DOC, END, FIRST, POS, open_cursors, scoring_terms, seek
from lexir.search.algorithms.heap import CACHE, heap_push, heap_sorted
from lexir.search.algorithms.postings import PostingArrays, corrupt_result
from lexir.search.algorithms.windows import SLOTS_PER_WORD, accumulate_window, take_slot, window_buffers


@njit(cache=CACHE, nogil=True)
def maxscore_top_k(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int, heap_factor: float,
                   window: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k (doc numbers, float64 scores in impact units) of one query by MaxScore, `window` documents at a
    time."""
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
    cursors = np.arange(n)
    accumulator, touched = window_buffers(min(window, num_docs))

    heap_scores = np.empty(k, dtype=np.float64)
    heap_docs = np.empty(k, dtype=np.int32)
    size = 0
    threshold = -1.0  # below any score until the heap is full
    first_essential = 0
    while True:
        low = num_docs
        for i in range(first_essential, n):
            low = min(low, state[i, DOC])
        if low >= num_docs:
            break
        high = min(low + window, num_docs)
        if not accumulate_window(packed, block_words, block_last_doc, impacts, num_docs, block_size, state, docs,
                                 cursors[first_essential:], weight, low, high, accumulator, touched):
            return corrupt_result()
        # a candidate whose essential score is at most `cutoff` cannot beat the threshold even in every other list
        non_essential_bound = heap_factor * prefix_bound[first_essential - 1] if first_essential > 0 else 0.0
        cutoff = threshold - non_essential_bound
        for word_index in range((high - low + SLOTS_PER_WORD - 1) // SLOTS_PER_WORD):
            word = touched[word_index]
            touched[word_index] = 0
            while word != 0:
                slot, word = take_slot(word_index, word)
                score = accumulator[slot]
                accumulator[slot] = 0.0
                if heap_factor * score <= cutoff:
                    continue
                doc = low + slot
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
                        cutoff = threshold - non_essential_bound
        while first_essential < n and heap_factor * prefix_bound[first_essential] <= threshold:
            first_essential += 1
    return heap_sorted(heap_scores, heap_docs, size)
