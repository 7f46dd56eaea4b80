"""The posting lists of one index as the single argument every top-k kernel takes.

numba compiles a NamedTuple of arrays and ints like loose arguments (each field keeps its own dtype
and read-only flag), so kernels read `postings.doc_ids` instead of taking a dozen positional arrays
that could be passed in the wrong order.

Bounds: opening an index checked the arrays' shapes and that the offsets and block offsets rise from 0 to
the arrays' ends (index/format.py), so every position a kernel computes from them is inside the arrays.
The values of doc_ids are not checked when an index opens (that reads every posting); a kernel that would
index an array by a document number checks that it lies in 0..num_docs-1, and otherwise returns
`corrupt_result()` (kernels return it rather than raise: an exception raised in a prange loop is lost),
which dispatch.py turns into an IndexFormatError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numba import njit

from lexir.index.reader import InvertedIndex
from lexir.search.algorithms.heap import CACHE


class PostingArrays(NamedTuple):
    """Term t's postings are doc_ids/impacts[offsets[t]:offsets[t+1]], in increasing document number, cut
    into blocks of block_size postings: blocks block_offsets[t]:block_offsets[t+1], each with its largest
    impact (block_max) and last document (block_last_doc); term_max is each list's largest impact."""

    offsets: np.ndarray
    doc_ids: np.ndarray
    impacts: np.ndarray
    term_max: np.ndarray
    block_offsets: np.ndarray
    block_max: np.ndarray
    block_last_doc: np.ndarray
    block_size: int
    num_docs: int


ARRAY_FIELDS = PostingArrays._fields[:7]


def postings_from_arrays(arrays: Mapping[str, np.ndarray], block_size: int, num_docs: int) -> PostingArrays:
    """From arrays named as `index.postings.build_postings` names them (other entries are ignored).

    Arrays are taken as plain ndarray views (no copy): numba types an np.memmap argument in Python on
    every call, several microseconds a query, but an ndarray in C.
    """
    return PostingArrays(*(np.asarray(arrays[name]) for name in ARRAY_FIELDS), int(block_size), int(num_docs))


def posting_arrays(index: InvertedIndex) -> PostingArrays:
    """The memory-mapped (read-only) arrays of an opened index."""
    return postings_from_arrays({name: getattr(index, name) for name in ARRAY_FIELDS}, index.manifest.block_size,
                                index.num_docs)


@njit(cache=CACHE, nogil=True)
def corrupt_result() -> tuple[np.ndarray, np.ndarray]:
    """What a kernel returns when doc_ids holds a number outside 0..num_docs-1: one hit numbered -1."""
    return np.full(1, -1, dtype=np.int32), np.zeros(1, dtype=np.float64)


@njit(cache=CACHE, nogil=True)
def query_postings(offsets: np.ndarray, terms: np.ndarray) -> int:
    """How many postings the lists of a query's terms hold: the cost of scoring it exhaustively."""
    length = 0
    for term in terms:
        length += offsets[term + 1] - offsets[term]
    return length
