"""Block decoders tried against lexir's (`codec.decode_docs`) and not kept: CPU nanoseconds a posting to decode
every block of an index, best of --rounds, the decoders alternating (docs/benchmarks.md, "Decoding").

    python benchmarks/decode_variants.py INDEX [--rounds 4]

- two_phase: unpack all of a block's gaps (independent iterations), then sum them;
- stream: a 64-bit bit buffer refilled with one load per 32 bits, instead of a 64-bit window read per gap.
Each must decode the same documents as decode_docs (a checksum of every block's last document is compared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from lexir.index import InvertedIndex
from lexir.index.codec import WIDTH_BITS, block_words_needed, decode_docs


@njit(nogil=True, inline="always")
def _width(packed: np.ndarray, block_words: np.ndarray, block: int, count: int, previous: int) -> int:
    """The block's gap width, or -1 when it fails decode_docs's checks."""
    begin, stop = block_words[block], block_words[block + 1]
    if begin < 0 or stop >= packed.shape[0] or stop <= begin or previous < -1:
        return -1
    gap_bits = np.int64(packed[begin]) & 31
    return -1 if block_words_needed(gap_bits, count) > stop - begin else gap_bits


@njit(nogil=True, inline="always")
def decode_two_phase(packed, block_words, block_last_doc, num_docs, block, count, previous, docs):
    gap_bits = _width(packed, block_words, block, count, previous)
    if gap_bits < 0:
        return False
    offset = block_words[block] * 32 + WIDTH_BITS
    mask = (np.uint64(1) << np.uint64(gap_bits)) - np.uint64(1)
    for j in range(count):
        position = offset + j * gap_bits
        k = position >> 5
        window = np.uint64(packed[k]) | (np.uint64(packed[k + 1]) << np.uint64(32))
        docs[j] = np.int32((window >> np.uint64(position & 31)) & mask)
    doc = np.int64(previous)
    for j in range(count):
        doc += docs[j] + 1
        docs[j] = doc
    return doc == block_last_doc[block] and doc < num_docs


@njit(nogil=True, inline="always")
def decode_stream(packed, block_words, block_last_doc, num_docs, block, count, previous, docs):
    gap_bits = _width(packed, block_words, block, count, previous)
    if gap_bits < 0:
        return False
    k = block_words[block]
    mask = (np.uint64(1) << np.uint64(gap_bits)) - np.uint64(1)
    bits, shift = np.uint64(gap_bits), np.uint64(WIDTH_BITS)
    buffer = np.uint64(packed[k]) | (np.uint64(packed[k + 1]) << np.uint64(32))
    doc = np.int64(previous)
    for j in range(count):
        doc += np.int64((buffer >> shift) & mask) + 1
        docs[j] = doc
        shift += bits
        if shift >= np.uint64(32):
            shift -= np.uint64(32)
            k += 1
            buffer = (buffer >> np.uint64(32)) | (np.uint64(packed[k + 1]) << np.uint64(32))
    return doc == block_last_doc[block] and doc < num_docs


def _decode_all(decode):
    @njit(nogil=True)
    def run(offsets, block_offsets, block_last_doc, block_words, packed, block_size, num_docs):
        docs = np.empty(block_size, dtype=np.int32)
        checksum = 0
        for term in range(len(offsets) - 1):
            start, end, first_block = offsets[term], offsets[term + 1], block_offsets[term]
            for block in range(first_block, block_offsets[term + 1]):
                first = start + (block - first_block) * block_size
                count = min(block_size, end - first)
                previous = block_last_doc[block - 1] if block > first_block else -1
                if not decode(packed, block_words, block_last_doc, num_docs, block, count, previous, docs):
                    return -1
                checksum += docs[count - 1]
        return checksum
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    index = InvertedIndex(args.index)
    p = index.posting_arrays
    arrays = (p.offsets, p.block_offsets, p.block_last_doc, p.block_words, p.doc_blocks, p.block_size, p.num_docs)
    runs = {"decode_docs (kept)": _decode_all(decode_docs), "two_phase": _decode_all(decode_two_phase),
            "stream": _decode_all(decode_stream)}
    expected = {name: run(*arrays) for name, run in runs.items()}  # compiles each
    assert len(set(expected.values())) == 1 and -1 not in expected.values(), expected
    best = dict.fromkeys(runs, np.inf)
    for round_ in range(args.rounds):
        for name in (list(runs) if round_ % 2 == 0 else list(runs)[::-1]):
            began = time.thread_time_ns()
            runs[name](*arrays)
            best[name] = min(best[name], time.thread_time_ns() - began)
    for name, nanoseconds in best.items():
        print(f"{name:20s} {nanoseconds / index.manifest.num_postings:.2f} ns a posting")


if __name__ == "__main__":
    main()
