"""The block codec of format version 2: document numbers bit-packed per block, decoded inside the numba kernels.

Term t's postings (positions offsets[t]..offsets[t+1], in increasing document number) are cut into blocks
of block_size postings, as in version 1 (blocks block_offsets[t]..block_offsets[t+1], the last one may be
shorter), and each block keeps its largest impact (block_max) and last document (block_last_doc) for
skipping. A block's document numbers are one little-endian bit stream in 32-bit words, doc_blocks.npy
[block_words[b], block_words[b+1]), padded with zero bits to a whole word (doc_blocks.npy ends with one spare
zero word after the last block, so that a decoder may always read a 64-bit window):

    5 bits                 d, the width of the block's document gaps (0-31)
    count x d bits         gap = doc - previous doc - 1 (the previous document of a term's first block is -1,
                           of a later block the last document of the block before it: block_last_doc[b-1])

Only the width is in the stream; the count comes from the offsets and the block size. Bit-packing per
64-posting block (as PISA's block codecs do per 128) keeps each width to what the block needs, and the
fixed-width unpacking below is a short branch-free loop with no table. Impacts stay one byte (two with
16-bit quantization) at their posting's position, impacts.npy as in version 1: measured on NFCorpus
SPLADE-tiny, packing them at each block's bit length would save 0.27 bits of 7.7 a posting (about 1% of
the index), and a kernel reads an impact where it needs it without decoding anything (docs/benchmarks.md,
"Compressed postings").

Decoding checks what stays cheap per block, so that a damaged file can never make a kernel read out of
bounds or use a document number that does not exist: the block's word range lies inside doc_blocks.npy
(before its spare word) and holds its bits, its first document is >= 0, and its last equals
block_last_doc[b] and lies below num_docs (documents ascend by construction). A block that fails is
reported as damaged (False). Impacts are read as they are; `lexir index check` compares them with the
block and term maxima.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from lexir.jit import CACHE

WIDTH_BITS = 5  # the field that holds a block's document-gap width


class PostingArrays(NamedTuple):
    """The posting lists of one index as the single argument every top-k kernel takes (format version 2).

    numba compiles a NamedTuple of arrays and ints like loose arguments (each field keeps its own dtype and
    read-only flag), so kernels read `postings.block_max` instead of taking a dozen positional arrays that
    could be passed in the wrong order. Term t's postings are positions offsets[t]..offsets[t+1], with
    impacts[p] the impact of posting p, in blocks block_offsets[t]..block_offsets[t+1] of block_size postings,
    each block's document numbers bit-packed in doc_blocks[block_words[b]:block_words[b+1]] (see the
    module docstring), with its largest impact (block_max) and last document (block_last_doc); term_max is
    each list's largest impact."""

    offsets: np.ndarray
    impacts: np.ndarray
    term_max: np.ndarray
    block_offsets: np.ndarray
    block_max: np.ndarray
    block_last_doc: np.ndarray
    block_words: np.ndarray
    doc_blocks: np.ndarray
    block_size: int
    num_docs: int


ARRAY_FIELDS = PostingArrays._fields[:8]


@njit(cache=CACHE, nogil=True, inline="always")
def bit_length(value: int) -> int:
    """Bits needed for a non-negative integer (0 for 0)."""
    bits = 0
    while value > 0:
        bits += 1
        value >>= 1
    return bits


@njit(cache=CACHE, nogil=True, inline="always")
def block_words_needed(gap_bits: int, count: int) -> int:
    """Words a block of `count` postings takes with this gap width."""
    return (WIDTH_BITS + count * gap_bits + 31) // 32


@njit(cache=CACHE, nogil=True)
def measure_blocks(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int,
                   block_max: np.ndarray, block_last_doc: np.ndarray, block_word_counts: np.ndarray) -> int:
    """First pass of the encoder over whole posting lists (`offsets` from 0, into these doc_ids/impacts): each
    block's largest impact, last document and word count, written into the per-block outputs in order.

    Returns the number of blocks, or -1 - t when list t is not strictly ascending document numbers from 0 to
    2**31 - 2 with impacts from 1 to 65,535 (nothing is written for it)."""
    block = 0
    for t in range(offsets.shape[0] - 1):
        start, end = offsets[t], offsets[t + 1]
        previous = -1
        for first in range(start, end, block_size):
            last = min(first + block_size, end)
            largest_gap, largest_impact = 0, 0
            for p in range(first, last):
                doc, impact = np.int64(doc_ids[p]), np.int64(impacts[p])
                if doc <= previous or doc > 2**31 - 2 or impact < 1 or impact > 65535:
                    return -1 - t
                largest_gap = max(largest_gap, doc - previous - 1)
                largest_impact = max(largest_impact, impact)
                previous = doc
            block_max[block] = largest_impact
            block_last_doc[block] = previous
            block_word_counts[block] = block_words_needed(bit_length(largest_gap), last - first)
            block += 1
    return block


@njit(cache=CACHE, nogil=True)
def pack_blocks(offsets: np.ndarray, doc_ids: np.ndarray, block_size: int, block_words: np.ndarray,
                words: np.ndarray) -> None:
    """Second pass: bit-pack the document numbers of every block of these lists (checked by `measure_blocks`)
    into words, block b of the range at words[block_words[b]:block_words[b+1]] (relative to `words`)."""
    block = 0
    for t in range(offsets.shape[0] - 1):
        start, end = offsets[t], offsets[t + 1]
        previous = -1
        for first in range(start, end, block_size):
            last = min(first + block_size, end)
            largest_gap = 0
            prior = previous
            for p in range(first, last):
                largest_gap = max(largest_gap, np.int64(doc_ids[p]) - prior - 1)
                prior = np.int64(doc_ids[p])
            gap_bits = bit_length(largest_gap)
            k = block_words[block]
            buffer = np.int64(gap_bits)  # bits not yet written, lowest first (fewer than 32 before each add)
            filled = WIDTH_BITS
            for p in range(first, last):
                doc = np.int64(doc_ids[p])
                buffer |= (doc - previous - 1) << filled
                filled += gap_bits
                previous = doc
                while filled >= 32:
                    words[k] = buffer & 0xFFFFFFFF
                    k += 1
                    buffer >>= 32
                    filled -= 32
            if filled > 0:
                words[k] = buffer
            block += 1


@njit(cache=CACHE, nogil=True, inline="always")
def unpack(words: np.ndarray, offset: int, bits: int) -> int:
    """The `bits`-bit value (at most 32) at bit `offset` of the word stream: one unaligned 64-bit window, no
    branch (the stream ends with a spare word, so the window's second word always exists)."""
    k = offset >> 5
    window = np.uint64(words[k]) | (np.uint64(words[k + 1]) << np.uint64(32))
    return np.int64((window >> np.uint64(offset & 31)) & ((np.uint64(1) << np.uint64(bits)) - np.uint64(1)))


@njit(cache=CACHE, nogil=True, inline="always")
def decode_docs(packed: np.ndarray, block_words: np.ndarray, block_last_doc: np.ndarray, num_docs: int, block: int,
                count: int, previous: int, docs: np.ndarray) -> bool:
    """Unpack the `count` document numbers of block `block` (after document `previous`) into docs[:count].

    False, with docs undefined, when the block fails the checks of the module docstring. (Arrays are passed
    one by one, not as a PostingArrays: numba inlines this into the kernels, where each tuple member would cost
    a reference count update per call.)"""
    begin, stop = block_words[block], block_words[block + 1]
    if begin < 0 or stop >= packed.shape[0] or stop <= begin or previous < -1:
        return False
    gap_bits = np.int64(packed[begin]) & 31
    if block_words_needed(gap_bits, count) > stop - begin:
        return False
    offset = begin * 32 + WIDTH_BITS
    doc = np.int64(previous)
    for j in range(count):
        doc += unpack(packed, offset + j * gap_bits, gap_bits) + 1
        docs[j] = doc
    return doc == block_last_doc[block] and doc < num_docs


@njit(cache=CACHE, nogil=True, inline="always")
def block_span(block_size: int, block_last_doc: np.ndarray, start: int, end: int, first_block: int, block: int
               ) -> tuple[int, int, int]:
    """(first posting, posting count, previous document) of block `block` of the list of postings start..end-1
    whose blocks begin at first_block."""
    first = start + (block - first_block) * block_size
    count = min(block_size, end - first)
    previous = block_last_doc[block - 1] if block > first_block else -1
    return first, count, previous


@njit(cache=CACHE, nogil=True, inline="always")
def decode_block(postings: PostingArrays, term: int, block: int, docs: np.ndarray) -> tuple[int, int, bool]:
    """Decode block `block` of term `term`'s list into docs[:count]: (its first posting, count, ok), ok False
    when the block fails its checks (what every whole-list reader does per block; cursors keep their own)."""
    offsets, block_offsets = postings.offsets, postings.block_offsets
    first, count, previous = block_span(postings.block_size, postings.block_last_doc, offsets[term],
                                        offsets[term + 1], block_offsets[term], block)
    ok = decode_docs(postings.doc_blocks, postings.block_words, postings.block_last_doc, postings.num_docs, block,
                     count, previous, docs)
    return first, count, ok


@njit(cache=CACHE, nogil=True)
def decode_terms(postings: PostingArrays, first_term: int, last_term: int) -> tuple[np.ndarray, bool]:
    """The document numbers of every posting of terms first_term..last_term-1, decoded (int32), and ok: False
    (with what was decoded before) when a block fails its checks."""
    offsets, block_offsets = postings.offsets, postings.block_offsets
    base = offsets[first_term]
    docs = np.empty(offsets[last_term] - base, dtype=np.int32)
    buffer = np.empty(postings.block_size, dtype=np.int32)
    for term in range(first_term, last_term):
        for block in range(block_offsets[term], block_offsets[term + 1]):
            first, count, ok = decode_block(postings, term, block, buffer)
            if not ok:
                return docs, False
            docs[first - base:first - base + count] = buffer[:count]
    return docs, True
