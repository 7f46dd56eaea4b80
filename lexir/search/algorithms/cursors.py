"""Posting-list cursors over the index arrays, as parallel numpy arrays (one slot per query term).

Per query term i: start[i]/end[i] is its posting range, block_start[i]/block_end[i] its block range,
pos[i] the current posting and block[i] the current block, which may lag behind pos[i] (moves that
read postings one by one do not update it) but is never ahead of it.
`skip_blocks` moves only the block index, using the blocks' last document numbers, so a
block-max algorithm can read a block's maximum before it decides to look inside the block.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms.heap import CACHE
from lexir.search.algorithms.postings import PostingArrays


@njit(cache=CACHE, nogil=True)
def open_cursors(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cursors of the query terms that have postings and a positive weight (others cannot score).

    Returns (term, weight, start, end, block_start, block_end); the caller copies start/block_start
    into its own pos/block arrays.
    """
    offsets, block_offsets = postings.offsets, postings.block_offsets
    scoring = np.empty(terms.shape[0], dtype=np.bool_)
    for q in range(terms.shape[0]):
        scoring[q] = weights[q] > 0 and offsets[terms[q] + 1] > offsets[terms[q]]
    term = terms[scoring].astype(np.int64)
    weight = weights[scoring].astype(np.float64)
    start, end = offsets[term], offsets[term + 1]
    block_start, block_end = block_offsets[term], block_offsets[term + 1]
    return term, weight, start, end, block_start, block_end


@njit(cache=CACHE, nogil=True, inline="always")
def skip_blocks(block_last_doc: np.ndarray, block: int, block_end: int, target: int) -> int:
    """The first block at or after `block` whose last document is >= target (block_end if none)."""
    while block < block_end and block_last_doc[block] < target:
        block += 1
    return block


@njit(cache=CACHE, nogil=True, inline="always")
def scan_to(doc_ids: np.ndarray, pos: int, end: int, start: int, block_start: int, block: int, block_end: int,
            block_size: int, target: int) -> int:
    """The first posting at or after `pos` with document >= target, given that `block` (from skip_blocks)
    is the first block that can hold it; `end` when there is none. (The block's last document stops the scan
    inside the block; `end` bounds it too, whatever block_last_doc holds.)"""
    if block >= block_end or pos >= end:
        return end
    first = start + (block - block_start) * block_size
    if pos < first:
        pos = first
    while pos < end and doc_ids[pos] < target:
        pos += 1
    return pos
