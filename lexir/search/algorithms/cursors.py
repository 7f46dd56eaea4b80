"""Posting-list cursors over the packed postings: one row per query term in an int64 state array, and the
document numbers of that row's decoded block in docs[i].

Per cursor i: state[i, START]/state[i, END] is its posting range, state[i, BLOCK_START]/state[i, BLOCK_END]
its block range, state[i, POS] the current posting and state[i, DOC] its document (num_docs once the list is
done). The document numbers of the block holding POS are decoded in row i: block state[i, LOADED], whose
first posting is state[i, FIRST] (the impact of POS is impacts[POS], never decoded). state[i, BLOCK] is a skip
pointer that may run ahead of
the decoded block: `skip_blocks` moves it with the blocks' last document numbers alone, so a block-max
algorithm can read a block's maximum before it pays for decoding the block. Every move that decodes returns
False when a block fails its checks (codec.py): the kernel then returns `corrupt_result()`.

Moves inside the decoded block (the next posting, a probe whose document is at most the block's last) are
written out in the kernels; only moves that decode a block call `next_block` or `seek`. Measured on NFCorpus
SPLADE-tiny: a helper that takes the state and docs arrays, inlined or not, cost 16-38 ns a posting in
numba against 5 ns for the same statements in the kernel's loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.index.codec import PostingArrays, block_span, decode_docs
from lexir.search.algorithms.heap import CACHE

START, END, BLOCK_START, BLOCK_END, POS, BLOCK, LOADED, FIRST, DOC = range(9)


@njit(cache=CACHE, nogil=True)
def scoring_terms(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(term, weight) of the query terms that have postings and a positive weight (others cannot score)."""
    offsets = postings.offsets
    scoring = np.empty(terms.shape[0], dtype=np.bool_)
    for q in range(terms.shape[0]):
        scoring[q] = weights[q] > 0 and offsets[terms[q] + 1] > offsets[terms[q]]
    return terms[scoring].astype(np.int64), weights[scoring].astype(np.float64)


@njit(cache=CACHE, nogil=True)
def open_cursors(postings: PostingArrays, term: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(state, docs, ok): cursors on the first posting of each term (from `scoring_terms`: every list is
    non-empty); ok is False when a first block fails its checks."""
    n = term.shape[0]
    state = np.empty((n, 9), dtype=np.int64)
    docs = np.empty((n, postings.block_size), dtype=np.int32)
    for i in range(n):
        state[i, START], state[i, END] = postings.offsets[term[i]], postings.offsets[term[i] + 1]
        state[i, BLOCK_START] = postings.block_offsets[term[i]]
        state[i, BLOCK_END] = postings.block_offsets[term[i] + 1]
        state[i, POS], state[i, BLOCK] = state[i, START], state[i, BLOCK_START]
        if not load(postings.doc_blocks, postings.block_words, postings.block_last_doc, postings.num_docs,
                    postings.block_size, state, docs, i, state[i, BLOCK_START]):
            return state, docs, False
        state[i, DOC] = docs[i, 0]
    return state, docs, True


@njit(cache=CACHE, nogil=True, inline="always")
def load(packed: np.ndarray, block_words: np.ndarray, block_last_doc: np.ndarray, num_docs: int, block_size: int,
         state: np.ndarray, docs: np.ndarray, i: int, block: int) -> bool:
    """Decode the documents of block `block` of cursor i's list into its row (POS and DOC are the caller's)."""
    first, count, previous = block_span(block_size, block_last_doc, state[i, START], state[i, END],
                                        state[i, BLOCK_START], block)
    state[i, LOADED] = block
    state[i, FIRST] = first
    return decode_docs(packed, block_words, block_last_doc, num_docs, block, count, previous, docs[i])


@njit(cache=CACHE, nogil=True, inline="always")
def skip_blocks(block_last_doc: np.ndarray, block: int, block_end: int, target: int) -> int:
    """The first block at or after `block` whose last document is >= target (block_end if none)."""
    while block < block_end and block_last_doc[block] < target:
        block += 1
    return block


@njit(cache=CACHE, nogil=True)
def seek(packed: np.ndarray, block_words: np.ndarray, block_last_doc: np.ndarray, num_docs: int, block_size: int,
         state: np.ndarray, docs: np.ndarray, i: int, target: int) -> bool:
    """Move cursor i, whose document is below target, to its first posting with document >= target (DOC =
    num_docs if there is none), skipping whole blocks by their last documents and decoding only the block it
    lands in."""
    block = skip_blocks(block_last_doc, max(state[i, BLOCK], state[i, LOADED]), state[i, BLOCK_END], target)
    state[i, BLOCK] = block
    if block >= state[i, BLOCK_END]:
        state[i, POS] = state[i, END]
        state[i, DOC] = num_docs
        return True
    if block != state[i, LOADED] and not load(packed, block_words, block_last_doc, num_docs, block_size, state, docs,
                                               i, block):
        return False
    first = state[i, FIRST]
    count = min(block_size, state[i, END] - first)
    j = max(state[i, POS], first) - first
    while j < count and docs[i, j] < target:
        j += 1
    if j == count:  # the block's last document (checked when decoded) is >= target: only a bug gets here
        return False
    state[i, POS] = first + j
    state[i, DOC] = docs[i, j]
    return True


@njit(cache=CACHE, nogil=True)
def next_block(packed: np.ndarray, block_words: np.ndarray, block_last_doc: np.ndarray, num_docs: int,
               block_size: int, state: np.ndarray, docs: np.ndarray, i: int) -> bool:
    """Cursor i, whose position just left its decoded block (POS = its first posting after it), on the first
    posting of the next block."""
    if not load(packed, block_words, block_last_doc, num_docs, block_size, state, docs, i, state[i, LOADED] + 1):
        return False
    state[i, DOC] = docs[i, 0]
    return True


__all__ = ["BLOCK", "BLOCK_END", "BLOCK_START", "DOC", "END", "FIRST", "LOADED", "POS", "START", "next_block",
           "open_cursors", "scoring_terms", "seek", "skip_blocks"]
