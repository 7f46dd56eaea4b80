"""The posting lists of one index as the single argument every top-k kernel takes (PostingArrays, defined with
the block codec in index/codec.py), and what kernels share about them.

Bounds: opening an index checked the arrays' shapes and that the offsets, block offsets and block words rise
from 0 to the arrays' ends (index/format.py), so every posting and block position a kernel computes from them
is inside the arrays. The packed document numbers are not checked when an index opens (that reads every
posting); decoding a block checks it (codec.py: its word range, its first and last documents within
0..num_docs-1), so a kernel only ever indexes by a document number that exists, and a block that fails makes the
kernel return `corrupt_result()` (kernels return it rather than raise: an exception raised in a prange loop
is lost), which dispatch.py turns into an IndexFormatError.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numba import njit

from lexir.index.codec import ARRAY_FIELDS, PostingArrays
from lexir.index.reader import InvertedIndex
from lexir.search.algorithms.heap import CACHE


def postings_from_arrays(arrays: Mapping[str, np.ndarray], block_size: int, num_docs: int) -> PostingArrays:
    """From arrays named as `index.postings.build_postings` names them (other entries are ignored).

    Arrays are taken as plain ndarray views (no copy): numba types an np.memmap argument in Python on
    every call, several microseconds a query, but an ndarray in C.
    """
    return PostingArrays(*(np.asarray(arrays[name]) for name in ARRAY_FIELDS), int(block_size), int(num_docs))


def posting_arrays(index: InvertedIndex) -> PostingArrays:
    """The memory-mapped (read-only) arrays of an opened index."""
    return index.posting_arrays


@njit(cache=CACHE, nogil=True)
def corrupt_result() -> tuple[np.ndarray, np.ndarray]:
    """What a kernel returns when a block of the packed postings fails its checks: one hit numbered -1."""
    return np.full(1, -1, dtype=np.int32), np.zeros(1, dtype=np.float64)


@njit(cache=CACHE, nogil=True)
def query_postings(offsets: np.ndarray, terms: np.ndarray) -> int:
    """How many postings the lists of a query's terms hold: the cost of scoring it exhaustively."""
    length = 0
    for term in terms:
        length += offsets[term + 1] - offsets[term]
    return length
