"""Turning document vectors into posting lists with compressed document numbers (format version 2, see codec.py)
and per-term and per-block maxima.

`write_posting_files` is the one writer of an index folder's posting files: it reads uncompressed, possibly
memory-mapped postings a range of whole lists at a time (PIECE postings, or one longer list), so its memory
is bounded by the piece and the per-block arrays, which it writes through memory maps as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from lexir.errors import LexirError
from lexir.index.codec import measure_blocks, pack_blocks
from lexir.index.quantize import Quantizer

DEFAULT_BLOCK_SIZE = 64
PIECE = 2**24  # postings encoded at a time (~100 MiB of uncompressed input in memory)
POSTING_FILES = ("offsets", "doc_blocks", "block_words", "impacts", "term_max", "block_offsets", "block_max",
                 "block_last_doc", "doc_freq")

Allocate = Callable[[str, np.dtype, int], np.ndarray]


def write_posting_files(folder: Path, offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray,
                        block_size: int, *, progress: bool = False) -> None:
    """Write the POSTING_FILES of an index folder (every file but the per-document ones: doc_nnz, text df) from
    int64 `offsets` (term t's postings are [offsets[t], offsets[t+1])) and uncompressed `doc_ids` (ascending in
    each list) and `impacts` (uint8 or uint16, >= 1), which may be memory-mapped; arrays are written through
    memory maps, a piece of lists at a time.

    Raises LexirError when a list does not hold ascending document numbers and positive impacts."""

    def allocate(name: str, dtype: np.dtype, length: int) -> np.ndarray:
        return np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=(length,))

    arrays = _encode(offsets, doc_ids, impacts, block_size, allocate, progress)
    for array in arrays.values():
        if isinstance(array, np.memmap):
            array.flush()


def encode_postings(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int
                    ) -> dict[str, np.ndarray]:
    """The POSTING_FILES arrays in memory (small indexes: tests, a version-1 index converted when it opens)."""
    return _encode(offsets, doc_ids, impacts, block_size, lambda name, dtype, length: np.empty(length, dtype), False)


def build_postings(vectors: sp.csr_matrix, quantizer: Quantizer, block_size: int = DEFAULT_BLOCK_SIZE
                   ) -> dict[str, np.ndarray]:
    """Quantize document vectors (rows) and invert them into the arrays of `format.ARRAY_NAMES`, in memory."""
    offsets, doc_ids, impacts, doc_nnz = invert(vectors, quantizer)
    return {**encode_postings(offsets, doc_ids, impacts, block_size), "doc_nnz": doc_nnz}


def invert(vectors: sp.csr_matrix, quantizer: Quantizer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quantized document vectors by term: (offsets int64, doc_ids int32, impacts, nonzeros of each document)."""
    vectors = vectors.tocsr()
    vectors.eliminate_zeros()
    quantized = sp.csr_matrix((quantizer.quantize(vectors.data), vectors.indices, vectors.indptr),
                              shape=vectors.shape)
    by_term = quantized.tocsc()
    by_term.sort_indices()
    return (by_term.indptr.astype(np.int64), by_term.indices.astype(np.int32), by_term.data.astype(quantizer.dtype),
            np.diff(vectors.indptr).astype(np.int32))


def _encode(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int, allocate: Allocate,
            progress: bool) -> dict[str, np.ndarray]:
    """Two passes over pieces of whole lists: measure every block (maxima, last documents, words), then pack."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if block_size < 1 or offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[0] != 0 or \
            (np.diff(offsets) < 0).any() or offsets[-1] != doc_ids.shape[0] or impacts.shape != doc_ids.shape:
        raise LexirError("posting offsets must rise from 0 to the number of postings, with as many impacts as "
                         "document numbers, and the block size must be positive")
    lengths = np.diff(offsets)
    num_terms = lengths.shape[0]
    blocks = np.concatenate([[0], np.cumsum((lengths + block_size - 1) // block_size)]).astype(np.int64)
    arrays = {"offsets": allocate("offsets", np.dtype(np.int64), num_terms + 1),
              "doc_freq": allocate("doc_freq", np.dtype(np.int64), num_terms),
              "block_offsets": allocate("block_offsets", np.dtype(np.int64), num_terms + 1),
              "block_max": allocate("block_max", impacts.dtype, int(blocks[-1])),
              "block_last_doc": allocate("block_last_doc", np.dtype(np.int32), int(blocks[-1])),
              "block_words": allocate("block_words", np.dtype(np.int64), int(blocks[-1]) + 1),
              "impacts": allocate("impacts", impacts.dtype, impacts.shape[0])}
    arrays["offsets"][:], arrays["doc_freq"][:], arrays["block_offsets"][:] = offsets, lengths, blocks
    block_words = arrays["block_words"]
    block_words[0] = 0
    with tqdm(total=2 * int(offsets[-1]), unit="postings", desc="encoding postings", disable=not progress) as bar:
        for t0, t1 in term_pieces(offsets):
            p0, b0, b1 = offsets[t0], blocks[t0], blocks[t1]
            found = measure_blocks(offsets[t0:t1 + 1] - p0, np.asarray(doc_ids[p0:offsets[t1]]),
                                   np.asarray(impacts[p0:offsets[t1]]), block_size, arrays["block_max"][b0:b1],
                                   arrays["block_last_doc"][b0:b1], block_words[b0 + 1:b1 + 1])
            if found < 0:
                raise LexirError(f"the posting list of term {t0 - 1 - found} does not hold ascending document "
                                 "numbers (0 to 2**31 - 2) with impacts from 1 to 65,535")
            bar.update(int(offsets[t1] - p0))
        _running_sum(block_words)
        arrays["doc_blocks"] = words = allocate("doc_blocks", np.dtype(np.uint32), int(block_words[-1]) + 1)
        words[-1] = 0  # the spare word (codec.py)
        for t0, t1 in term_pieces(offsets):
            p0, b0, b1 = offsets[t0], blocks[t0], blocks[t1]
            w0, w1 = block_words[b0], block_words[b1]
            pack_blocks(offsets[t0:t1 + 1] - p0, np.asarray(doc_ids[p0:offsets[t1]]), block_size,
                        np.asarray(block_words[b0:b1 + 1]) - w0, words[w0:w1])
            arrays["impacts"][p0:offsets[t1]] = impacts[p0:offsets[t1]]
            bar.update(int(offsets[t1] - p0))
    term_max = arrays["term_max"] = allocate("term_max", impacts.dtype, num_terms)
    term_max[:] = 0
    nonempty = np.flatnonzero(lengths > 0)
    if nonempty.size:
        term_max[nonempty] = np.maximum.reduceat(np.asarray(arrays["block_max"]), blocks[nonempty])
    return arrays


def term_pieces(offsets: np.ndarray) -> Iterator[tuple[int, int]]:
    """Term ranges [t0, t1) of at most PIECE postings each (or one longer list)."""
    num_terms = offsets.shape[0] - 1
    t0 = 0
    while t0 < num_terms:
        t1 = int(np.searchsorted(offsets, offsets[t0] + PIECE, side="right")) - 1
        t1 = min(max(t1, t0 + 1), num_terms)
        yield t0, t1
        t0 = t1


def _running_sum(values: np.ndarray) -> None:
    """values[i] += values[i-1], in place, a piece at a time (a memory map is never read whole)."""
    total = 0
    for first in range(0, values.shape[0], PIECE):
        piece = np.cumsum(values[first:first + PIECE]) + total
        values[first:first + PIECE] = piece
        total = int(piece[-1])
