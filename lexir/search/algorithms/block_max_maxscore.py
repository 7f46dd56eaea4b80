"""Block-max MaxScore over document windows (Chakrabarti, Chaudhuri & Ganti, "Interval-based pruning for
top-k processing over compressed lists", 2011; Mallia, Ottaviano, Porciani, Tonellotto & Venturini,
"Faster BlockMax WAND with variable-sized blocks", 2017 and "An experimental study of index compression
and DAAT query processing methods", 2019), evaluated window by window as Lucene's MaxScore does.

The document space is cut into windows of `window` numbers. In each window a term's bound is its
query weight x the largest block maximum among its blocks that overlap the window, which is much
tighter than the list maximum. A window whose bounds sum to at most the threshold is skipped; else
the terms are split as in MaxScore (Turtle & Flood 1995) using the window bounds: the essential
lists are added term at a time into a window-sized accumulator (no per-document cursor selection),
and each candidate, in increasing number, probes the non-essential lists in decreasing bound order,
first against the bound of the block it falls in, stopping once it cannot beat the threshold.
Candidates are visited in increasing number, so a document enters only strictly above the threshold.

`heap_factor` < 1 multiplies every bound before it is compared (approximate, faster); 1 is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms.cursors import open_cursors, scan_to, skip_blocks
from lexir.search.algorithms.heap import CACHE, heap_push, heap_sorted
from lexir.search.algorithms.postings import PostingArrays, corrupt_result

DEFAULT_WINDOW = 16384  # measured: larger windows won on every collection (benchmarks/algorithm_crossover.py)
_CHUNK = 64  # accumulator slots per "touched" flag: candidates are found without scanning the whole window


@njit(cache=CACHE, nogil=True)
def block_max_maxscore_top_k(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int,
                             heap_factor: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k (doc numbers, float64 scores in impact units) of one query by windowed block-max MaxScore."""
    doc_ids, impacts, block_max = postings.doc_ids, postings.impacts, postings.block_max
    block_last_doc, block_size, num_docs = postings.block_last_doc, postings.block_size, postings.num_docs
    _, weight, start, end, block_start, block_end = open_cursors(postings, terms, weights)
    n = weight.shape[0]
    pos = start.copy()
    block = block_start.copy()
    window_bound = np.zeros(n, dtype=np.float64)
    prefix_bound = np.zeros(n, dtype=np.float64)
    accumulator = np.zeros(window, dtype=np.float64)
    touched = np.zeros(window // _CHUNK + 1, dtype=np.bool_)
    heap_scores = np.empty(k, dtype=np.float64)
    heap_docs = np.empty(k, dtype=np.int32)
    size = 0
    threshold = -1.0  # below any score until the heap is full

    low = 0
    while True:
        # Move every cursor to its first document >= low; the next window starts at the smallest.
        next_doc = num_docs
        for i in range(n):
            block[i] = skip_blocks(block_last_doc, block[i], block_end[i], low)
            pos[i] = scan_to(doc_ids, pos[i], end[i], start[i], block_start[i], block[i], block_end[i],
                             block_size, low)
            if pos[i] < end[i] and doc_ids[pos[i]] < next_doc:
                next_doc = doc_ids[pos[i]]
        if next_doc >= num_docs:
            for i in range(n):  # every cursor is at its end, unless doc_ids holds a number >= num_docs
                if pos[i] < end[i]:
                    return corrupt_result()
            break
        low = next_doc
        high = min(low + window, num_docs)
        total = 0.0
        for i in range(n):
            largest = 0
            b = block[i]
            if pos[i] < end[i] and doc_ids[pos[i]] < high:
                while b < block_end[i]:
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

        for r in range(first_essential, n):
            i = order[r]
            p, stop, w = pos[i], end[i], weight[i]
            while p < stop:
                doc = doc_ids[p]
                if doc >= high:
                    break
                if doc < low:  # lists ascend, and the cursor is at or after low: a damaged doc_ids
                    return corrupt_result()
                accumulator[doc - low] += w * impacts[p]
                touched[(doc - low) // _CHUNK] = True
                p += 1
            pos[i] = p

        for chunk in range((high - low + _CHUNK - 1) // _CHUNK):
            if not touched[chunk]:
                continue
            touched[chunk] = False
            for slot in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, high - low)):
                score = accumulator[slot]
                if score == 0.0:
                    continue
                accumulator[slot] = 0.0
                doc = low + slot
                competitive = True
                for r in range(first_essential - 1, -1, -1):
                    if heap_factor * (score + prefix_bound[r]) <= threshold:
                        competitive = False
                        break
                    i = order[r]
                    b = skip_blocks(block_last_doc, block[i], block_end[i], doc)
                    block[i] = b
                    if b == block_end[i]:
                        continue
                    rest = prefix_bound[r - 1] if r > 0 else 0.0
                    if heap_factor * (score + weight[i] * block_max[b] + rest) <= threshold:
                        competitive = False
                        break
                    p = scan_to(doc_ids, pos[i], end[i], start[i], block_start[i], b, block_end[i], block_size, doc)
                    pos[i] = p
                    if p < end[i] and doc_ids[p] == doc:
                        score += weight[i] * impacts[p]
                if competitive and score > threshold:
                    size = heap_push(heap_scores, heap_docs, size, score, doc)
                    if size == k:
                        threshold = heap_scores[0]
        low = high
    return heap_sorted(heap_scores, heap_docs, size)
