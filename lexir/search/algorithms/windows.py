"""Document windows shared by the windowed kernels (MaxScore and block-max MaxScore): the essential lists are
added term at a time into a window-sized accumulator, and the window's candidates are then visited in
increasing document number through a bitmap of the slots that were touched.

Why windows: document-at-a-time MaxScore compares every essential cursor with each candidate to score it and
find the next one, an unpredictable branch per cursor per candidate. Measured on the 8.8M-document scale set
(1.2M candidates and 7.6M such comparisons a query), adding the essential postings into an accumulator instead,
which has no such branch, cut MaxScore's CPU time by 29% (docs/benchmarks.md, "Windowed MaxScore"). The bitmap
keeps the candidates in increasing order (so the tie rule of heap.py holds: a document enters only strictly
above the threshold) while visiting only touched slots: one trailing-zero count per candidate, where scanning
every slot for a non-zero score costs a branch per document of the window.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from lexir.search.algorithms.cursors import DOC, END, FIRST, POS, next_block
from lexir.search.algorithms.heap import CACHE

SLOTS_PER_WORD = 64  # window slots per uint64 word of the touched bitmap
# Documents per window for both kernels. Block-max MaxScore: larger windows won on every collection
# (benchmarks/algorithm_crossover.py). MaxScore: 2,048 to 16,384 within 5% of each other on the 8.8M scale set.
DEFAULT_WINDOW = 16384


@intrinsic
def trailing_zeros(typingctx, word):  # noqa: ARG001 (numba's intrinsic signature)
    """The number of trailing zero bits of a non-zero uint64 (one instruction: LLVM's cttz)."""

    def codegen(context, builder, signature, args):  # noqa: ARG001
        function_type = ir.FunctionType(ir.IntType(64), [ir.IntType(64), ir.IntType(1)])
        cttz = cgutils.get_or_insert_function(builder.module, function_type, "llvm.cttz.i64")
        return builder.call(cttz, [args[0], ir.Constant(ir.IntType(1), 1)])

    return types.uint64(types.uint64), codegen


@njit(cache=CACHE, nogil=True)
def window_buffers(window: int) -> tuple[np.ndarray, np.ndarray]:
    """(accumulator, touched bitmap) for windows of `window` documents, all zero."""
    words = (window + SLOTS_PER_WORD - 1) // SLOTS_PER_WORD
    return np.zeros(window, dtype=np.float64), np.zeros(words, dtype=np.uint64)


@njit(cache=CACHE, nogil=True)
def accumulate_window(packed: np.ndarray, block_words: np.ndarray, block_last_doc: np.ndarray, impacts: np.ndarray,
                      num_docs: int, block_size: int, state: np.ndarray, docs: np.ndarray, cursors: np.ndarray,
                      weight: np.ndarray, low: int, high: int, accumulator: np.ndarray, touched: np.ndarray) -> bool:
    """Add weight[i] x impact of every posting of the cursors' lists with a document in low..high-1 into
    accumulator[doc - low], flag those slots in touched, and leave each cursor on its first document >= high.

    A block at a time: the inner loop has one well-predicted exit test per posting. False when a block fails
    its checks (the kernel then returns `corrupt_result()`)."""
    for i in cursors:
        w = weight[i]
        while state[i, DOC] < high:
            first = state[i, FIRST]
            count = min(block_size, state[i, END] - first)
            j = state[i, POS] - first
            while j < count:
                doc = docs[i, j]
                if doc >= high:
                    break
                slot = doc - low
                accumulator[slot] += w * impacts[first + j]
                touched[slot >> 6] |= np.uint64(1) << np.uint64(slot & 63)
                j += 1
            state[i, POS] = first + j
            if j < count:
                state[i, DOC] = docs[i, j]
            elif first + j >= state[i, END]:
                state[i, DOC] = num_docs
            elif not next_block(packed, block_words, block_last_doc, num_docs, block_size, state, docs, i):
                return False
    return True


@njit(cache=CACHE, nogil=True, inline="always")
def take_slot(word_index: int, word: np.uint64) -> tuple[int, np.uint64]:
    """(the lowest slot flagged in `word`, bitmap word number `word_index`; the word without it): the caller
    clears the bitmap word and loops while its copy is non-zero, so slots come in increasing order."""
    slot = word_index * SLOTS_PER_WORD + np.int64(trailing_zeros(word))
    return slot, word & (word - np.uint64(1))


__all__ = ["DEFAULT_WINDOW", "SLOTS_PER_WORD", "accumulate_window", "take_slot", "trailing_zeros", "window_buffers"]
