"""Posting-list cursors over the packed postings, as parallel numpy arrays (one slot per query term).

Per query term i: start[i]/end[i] is its posting range, block_start[i]/block_end[i] its block range, pos[i]
the current posting and doc[i] its document (NO_MORE = num_docs once the list is done). The block holding
pos[i] is decoded in row i of docs/impacts: block loaded[i], whose first posting is first[i]. block[i] is a
skip pointer that may run ahead of the decoded block: `skip_blocks` moves it with the blocks' last document
numbers alone, so a block-max algorithm can read a block's maximum before it pays for decoding the block.
Every move that decodes returns False when a block fails its checks (codec.py): the kernel then returns
`corrupt_result()`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from lexir.index.codec import PostingArrays, block_span, decode_block
from lexir.search.algorithms.heap import CACHE


class Cursors(NamedTuple):
    weight: np.ndarray
    start: np.ndarray
    end: np.ndarray
    block_start: np.ndarray
    block_end: np.ndarray
    pos: np.ndarray
    block: np.ndarray
    loaded: np.ndarray
    first: np.ndarray
    doc: np.ndarray
    docs: np.ndarray
    impacts: np.ndarray


@njit(cache=CACHE, nogil=True)
def scoring_terms(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(term, weight) of the query terms that have postings and a positive weight (others cannot score)."""
    offsets = postings.offsets
    scoring = np.empty(terms.shape[0], dtype=np.bool_)
    for q in range(terms.shape[0]):
        scoring[q] = weights[q] > 0 and offsets[terms[q] + 1] > offsets[terms[q]]
    return terms[scoring].astype(np.int64), weights[scoring].astype(np.float64)


@njit(cache=CACHE, nogil=True)
def open_cursors(postings: PostingArrays, term: np.ndarray, weight: np.ndarray) -> tuple[Cursors, bool]:
    """Cursors on the first posting of each term (from `scoring_terms`: every list is non-empty)."""
    n = term.shape[0]
    start, end = postings.offsets[term], postings.offsets[term + 1]
    block_start, block_end = postings.block_offsets[term], postings.block_offsets[term + 1]
    cursors = Cursors(weight, start, end, block_start, block_end, start.copy(), block_start.copy(),
                      np.full(n, -1, dtype=np.int64), start.copy(), np.zeros(n, dtype=np.int64),
                      np.empty((n, postings.block_size), dtype=np.int32),
                      np.empty((n, postings.block_size), dtype=np.int32))
    for i in range(n):
        if not load(postings, cursors, i, block_start[i]):
            return cursors, False
        cursors.doc[i] = cursors.docs[i, 0]
    return cursors, True


@njit(cache=CACHE, nogil=True)
def load(postings: PostingArrays, cursors: Cursors, i: int, block: int) -> bool:
    """Decode block `block` of cursor i's list into its row (pos and doc are the caller's to set)."""
    first, count, previous = block_span(postings, cursors.start[i], cursors.end[i], cursors.block_start[i], block)
    cursors.loaded[i] = block
    cursors.first[i] = first
    return decode_block(postings, block, count, previous, cursors.docs[i], cursors.impacts[i])


@njit(cache=CACHE, nogil=True, inline="always")
def impact(cursors: Cursors, i: int) -> int:
    """The impact of cursor i's current posting."""
    return cursors.impacts[i, cursors.pos[i] - cursors.first[i]]


@njit(cache=CACHE, nogil=True, inline="always")
def next_posting(postings: PostingArrays, cursors: Cursors, i: int) -> bool:
    """Move cursor i to its next posting (doc = num_docs past the end)."""
    p = cursors.pos[i] + 1
    cursors.pos[i] = p
    if p >= cursors.end[i]:
        cursors.doc[i] = postings.num_docs
        return True
    j = p - cursors.first[i]
    if j == postings.block_size:
        if not load(postings, cursors, i, cursors.loaded[i] + 1):
            return False
        j = 0
    cursors.doc[i] = cursors.docs[i, j]
    return True


@njit(cache=CACHE, nogil=True, inline="always")
def skip_blocks(postings: PostingArrays, cursors: Cursors, i: int, target: int) -> int:
    """Move cursor i's skip pointer to the first block at or after the current one whose last document is
    >= target (block_end if none), and return it; nothing is decoded."""
    block = max(cursors.block[i], cursors.loaded[i])
    while block < cursors.block_end[i] and postings.block_last_doc[block] < target:
        block += 1
    cursors.block[i] = block
    return block


@njit(cache=CACHE, nogil=True)
def advance_to(postings: PostingArrays, cursors: Cursors, i: int, target: int) -> bool:
    """Move cursor i to its first posting with document >= target (doc = num_docs if there is none), skipping
    whole blocks by their last documents and decoding only the block it lands in."""
    if cursors.doc[i] >= target:
        return True
    block = skip_blocks(postings, cursors, i, target)
    if block >= cursors.block_end[i]:
        cursors.pos[i] = cursors.end[i]
        cursors.doc[i] = postings.num_docs
        return True
    if block != cursors.loaded[i] and not load(postings, cursors, i, block):
        return False
    first = cursors.first[i]
    count = min(postings.block_size, cursors.end[i] - first)
    j = max(cursors.pos[i], first) - first
    while j < count and cursors.docs[i, j] < target:
        j += 1
    if j == count:  # the block's last document (checked when decoded) is >= target: only a bug gets here
        return False
    cursors.pos[i] = first + j
    cursors.doc[i] = cursors.docs[i, j]
    return True


__all__ = ["Cursors", "advance_to", "impact", "load", "next_posting", "open_cursors", "scoring_terms",
           "skip_blocks"]
