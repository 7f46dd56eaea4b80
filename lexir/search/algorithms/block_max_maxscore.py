"""Block-max MaxScore over document windows (Chakrabarti, Chaudhuri & Ganti, "Interval-based pruning for
top-k processing over compressed lists", 2011; Mallia, Ottaviano, Porciani, Tonellotto & Venturini,
"Faster BlockMax WAND with variable-sized blocks", 2017 and "An experimental study of index compression
and DAAT query processing methods", 2019), evaluated window by window as Lucene's MaxScore does.

The document space is cut into windows of `window` numbers. In each window a term's bound is its
query weight x the largest block maximum among its blocks that overlap the window, which is much
tighter than the list maximum. A window whose bounds sum to at most the threshold is skipped; else
the terms are split as in MaxScore (Turtle & Flood 1995) using the window bounds: the essential
lists are added term at a time into a window-sized accumulator (windows.py, as MaxScore does),
and each candidate, in increasing number, probes the non-essential lists in decreasing bound order,
first against the bound of the block it falls in, stopping once it cannot beat the threshold.
Candidates are visited in increasing number, so a document enters only strictly above the threshold.

`heap_factor` < 1 multiplies every bound before it is compared (approximate, faster); 1 is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms.cursors import (
    BLOCK,
    BLOCK_END,
    DOC,
    FIRST,
    LOADED,
    POS,
    open_cursors,
    scoring_terms,
    seek,
    skip_blocks,
)
from lexir.search.algorithms.heap import CACHE, heap_push, heap_sorted
from lexir.search.algorithms.postings import PostingArrays, corrupt_result
from lexir.search.algorithms.windows import SLOTS_PER_WORD, accumulate_window, take_slot, window_buffers


@njit(cache=CACHE, nogil=True)
def block_max_maxscore_top_k(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int,
                             heap_factor: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k (doc numbers, float64 scores in impact units) of one query by windowed block-max MaxScore."""
    packed, block_words, block_max = postings.doc_blocks, postings.block_words, postings.block_max
    block_last_doc, block_size, num_docs = postings.block_last_doc, postings.block_size, postings.num_docs
    impacts = postings.impacts
    term, weight = scoring_terms(postings, terms, weights)
    state, docs, ok = open_cursors(postings, term)
    if not ok:
        return corrupt_result()
    n = weight.shape[0]
    window_bound = np.zeros(n, dtype=np.float64)
    prefix_bound = np.zeros(n, dtype=np.float64)
    accumulator, touched = window_buffers(min(window, num_docs))
    heap_scores = np.empty(k, dtype=np.float64)
    heap_docs = np.empty(k, dtype=np.int32)
    size = 0
    threshold = -1.0  # below any score until the heap is full

    low = 0
    while True:
        # Move every cursor to its first document >= low; the next window starts at the smallest.
        next_doc = num_docs
        for i in range(n):
            if state[i, DOC] < low and not seek(packed, block_words, block_last_doc, num_docs, block_size,
                                                state, docs, i, low):
                return corrupt_result()
            next_doc = min(next_doc, state[i, DOC])
        if next_doc >= num_docs:
            break
        low = next_doc
        high = min(low + window, num_docs)
        total = 0.0
        for i in range(n):
            largest = 0
            if state[i, DOC] < high:
                b = state[i, LOADED]  # the block of the cursor's posting, the first with a document >= low
                while b < state[i, BLOCK_END]:
                    if block_max[b] > largest:
                        largest = block_max[b]
                    if block_last_doc[b] >= high - 1:
                        break
                    b += 1
            window_bound[i] = weight[i] * largest
            total += window_bound[i]
        if heap_factor * total <= threshold:
            low = high
            continue
        order = np.argsort(window_bound)
        running = 0.0
        for r in range(n):
            running += window_bound[order[r]]
            prefix_bound[r] = running
        first_essential = 0
        while first_essential < n and heap_factor * prefix_bound[first_essential] <= threshold:
            first_essential += 1

        if not accumulate_window(packed, block_words, block_last_doc, impacts, num_docs, block_size, state, docs,
                                 order[first_essential:], weight, low, high, accumulator, touched):
            return corrupt_result()
        for word_index in range((high - low + SLOTS_PER_WORD - 1) // SLOTS_PER_WORD):
            word = touched[word_index]
            touched[word_index] = 0
            while word != 0:
                slot, word = take_slot(word_index, word)
                score = accumulator[slot]
                accumulator[slot] = 0.0
                doc = low + slot
                competitive = True
                for r in range(first_essential - 1, -1, -1):
                    if heap_factor * (score + prefix_bound[r]) <= threshold:
                        competitive = False
                        break
                    i = order[r]
                    if state[i, DOC] >= doc:
                        b = state[i, LOADED]  # already at or past doc: the block that would hold it
                    else:
                        b = skip_blocks(block_last_doc, max(state[i, BLOCK], state[i, LOADED]), state[i, BLOCK_END],
                                        doc)
                        state[i, BLOCK] = b
                    if b == state[i, BLOCK_END]:
                        continue
                    rest = prefix_bound[r - 1] if r > 0 else 0.0
                    if heap_factor * (score + weight[i] * block_max[b] + rest) <= threshold:
                        competitive = False
                        break
                    if state[i, DOC] < doc:  # probe for doc: in the decoded block, or seek a later one
                        first = state[i, FIRST]
                        if b == state[i, LOADED]:
                            j = state[i, POS] - first
                            while docs[i, j] < doc:
                                j += 1
                            state[i, POS] = first + j
                            state[i, DOC] = docs[i, j]
                        elif not seek(packed, block_words, block_last_doc, num_docs, block_size, state,
                                      docs, i, doc):
                            return corrupt_result()
                    if state[i, DOC] == doc:
                        score += weight[i] * impacts[state[i, POS]]
                if competitive and score > threshold:
                    size = heap_push(heap_scores, heap_docs, size, score, doc)
                    if size == k:
                        threshold = heap_scores[0]
        low = high
    return heap_sorted(heap_scores, heap_docs, size)
