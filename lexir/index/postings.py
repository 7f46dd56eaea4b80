"""Posting lists: document vectors inverted in memory, and the one seam that writes an index's posting files.

`write_posting_files` is the only writer of the posting files of an index folder (a full build, whose inverted
postings are memory-mapped intermediate files, and a live segment or merge, whose postings are in memory, go
through it alike). It reads its inputs a range of whole lists at a time (about `piece_postings` postings, or one
longer list), encodes their blocks (format version 2, codec.py) and appends them to the files in order, so its
memory does not grow with the index, and no output file is memory-mapped (a mapping's written pages would count
in the process's resident memory).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from lexir.errors import LexirError
from lexir.index.codec import measure_blocks, pack_blocks
from lexir.index.format import ArrayStream, write_array
from lexir.index.quantize import Quantizer

DEFAULT_BLOCK_SIZE = 64
PIECE_POSTINGS = 2**24  # postings write_posting_files holds at a time (about 8 bytes each with their blocks)
BYTES_PER_PIECE_POSTING = 8
POSTING_FILES = ("offsets", "doc_blocks", "block_words", "impacts", "term_max", "block_offsets", "block_max",
                 "block_last_doc", "doc_freq")


@dataclass(frozen=True)
class InvertedPostings:
    """Posting lists in term order: list t is [offsets[t], offsets[t+1]) of `doc_ids` (ascending) and `impacts`;
    `doc_nnz` counts each document's postings. Any array may be a memory-mapped file."""

    offsets: np.ndarray  # int64[V+1]
    doc_ids: np.ndarray  # int32[P]
    impacts: np.ndarray  # uint8 or uint16 [P]
    doc_nnz: np.ndarray  # int32[N]

    @property
    def num_terms(self) -> int:
        return self.offsets.shape[0] - 1

    @property
    def num_docs(self) -> int:
        return self.doc_nnz.shape[0]

    @property
    def num_postings(self) -> int:
        return int(self.offsets[-1])


class EncodedPiece(NamedTuple):
    """The blocks of a range of whole lists, encoded: per block its largest impact, last document and the end of
    its words (counted from the piece's first word), and the packed words themselves."""

    block_max: np.ndarray
    block_last_doc: np.ndarray
    word_ends: np.ndarray
    words: np.ndarray


def canonical_rows(vectors: sp.spmatrix) -> sp.csr_matrix:
    """Document vectors as CSR rows holding their postings only: terms ascending and once each, no weight of
    exactly 0 (that is no posting). `vectors` is left as it was; a copy is made only when it must change."""
    rows = vectors.tocsr()
    if not rows.has_canonical_format or not rows.data.all():
        rows = rows.copy()
        rows.sum_duplicates()
        rows.eliminate_zeros()
    return rows


def quantize_rows(vectors: sp.spmatrix, quantizer: Quantizer) -> sp.csr_matrix:
    """Document vectors (rows) with quantized weights (see canonical_rows): every posting's impact is at least 1."""
    rows = canonical_rows(vectors)
    return sp.csr_matrix((quantizer.quantize(rows.data), rows.indices, rows.indptr), shape=rows.shape)


def invert(rows: sp.csr_matrix) -> InvertedPostings:
    """Quantized document vectors (see quantize_rows) inverted in memory: scipy's counting sort, which hands each
    list out in ascending document order. Below 2**31 postings (scipy's 32-bit indices)."""
    by_term = rows.tocsc()
    by_term.sort_indices()  # a no-op after tocsc, which sorts: kept so that the order never rests on scipy's
    return InvertedPostings(by_term.indptr.astype(np.int64), by_term.indices.astype(np.int32, copy=False),
                            by_term.data, np.diff(rows.indptr).astype(np.int32))


def build_postings(vectors: sp.spmatrix, quantizer: Quantizer, block_size: int = DEFAULT_BLOCK_SIZE
                   ) -> dict[str, np.ndarray]:
    """Quantize document vectors (rows) and invert them, in memory, into the arrays of `format.ARRAY_NAMES`
    (what tests and benchmarks search without writing an index)."""
    postings = invert(quantize_rows(vectors, quantizer))
    return {**encode_postings(postings.offsets, postings.doc_ids, postings.impacts, block_size),
            "doc_nnz": postings.doc_nnz}


def encode_postings(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int
                    ) -> dict[str, np.ndarray]:
    """The POSTING_FILES arrays in memory (small indexes: tests, a version-1 index converted when it opens)."""
    offsets = _checked_offsets(offsets, doc_ids, impacts, block_size)
    term_max = np.zeros(offsets.shape[0] - 1, dtype=impacts.dtype)
    block_max, block_last_doc, block_words, words = [np.zeros(0, impacts.dtype)], [np.zeros(0, np.int32)], [], []
    words_before = 0
    for first, last, piece in _encoded_pieces(offsets, doc_ids, impacts, block_size, PIECE_POSTINGS):
        term_max[first:last] = _list_maxima(offsets[first:last + 1], block_size, piece.block_max)
        block_max.append(piece.block_max)
        block_last_doc.append(piece.block_last_doc)
        block_words.append(piece.word_ends + words_before)
        words.append(piece.words)
        words_before += len(piece.words)
    return {
        "offsets": offsets, "doc_freq": np.diff(offsets), "block_offsets": block_offsets_of(offsets, block_size),
        "impacts": np.asarray(impacts), "term_max": term_max, "block_max": np.concatenate(block_max),
        "block_last_doc": np.concatenate(block_last_doc),
        "block_words": np.concatenate([np.zeros(1, np.int64), *block_words]),
        "doc_blocks": np.concatenate([*words, np.zeros(1, np.uint32)]),  # and the spare word (codec.py)
    }


def write_posting_files(folder: Path, offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray,
                        block_size: int, *, piece_postings: int = PIECE_POSTINGS, progress: bool = False) -> None:
    """Write the POSTING_FILES of an index folder (every file but the per-document ones: doc_nnz, text df) from
    int64 `offsets` and the inverted `doc_ids` (ascending in each list) and `impacts` (>= 1), in memory or
    memory-mapped, holding about `piece_postings` postings at a time.

    Raises LexirError when a list does not hold ascending document numbers and positive impacts."""
    offsets = _checked_offsets(offsets, doc_ids, impacts, block_size)
    num_postings = int(offsets[-1])
    block_offsets = block_offsets_of(offsets, block_size)
    num_blocks = int(block_offsets[-1])
    term_max = np.zeros(offsets.shape[0] - 1, dtype=impacts.dtype)
    words_written = 0
    with ArrayStream(folder, "doc_blocks", np.uint32) as words_out, \
            ArrayStream(folder, "block_words", np.int64, num_blocks + 1) as block_words_out, \
            ArrayStream(folder, "impacts", impacts.dtype, num_postings) as impact_out, \
            ArrayStream(folder, "block_max", impacts.dtype, num_blocks) as block_max_out, \
            ArrayStream(folder, "block_last_doc", np.int32, num_blocks) as block_last_out, \
            tqdm(total=num_postings, unit="posting", unit_scale=True, desc="writing postings",
                 disable=not progress) as bar:
        block_words_out.append(np.zeros(1, np.int64))
        for first, last, piece in _encoded_pieces(offsets, doc_ids, impacts, block_size, piece_postings):
            term_max[first:last] = _list_maxima(offsets[first:last + 1], block_size, piece.block_max)
            words_out.append(piece.words)
            block_words_out.append(piece.word_ends + words_written)
            words_written += len(piece.words)
            impact_out.append(read_piece(impacts, int(offsets[first]), int(offsets[last])))
            block_max_out.append(piece.block_max)
            block_last_out.append(piece.block_last_doc)
            bar.update(int(offsets[last] - offsets[first]))
        words_out.append(np.zeros(1, np.uint32))  # the spare word (codec.py)
    for name, values in (("offsets", offsets), ("term_max", term_max), ("block_offsets", block_offsets),
                         ("doc_freq", np.diff(offsets))):
        write_array(folder, name, values)


def term_pieces(offsets: np.ndarray, limit: int = PIECE_POSTINGS) -> Iterator[tuple[int, int]]:
    """Term ranges [first, last) of consecutive whole lists holding at most `limit` postings together, or one
    longer list alone (a block's gaps start from the previous block of its list: lists are never cut)."""
    num_terms = offsets.shape[0] - 1
    first = 0
    while first < num_terms:
        last = int(np.searchsorted(offsets, offsets[first] + limit, side="right")) - 1
        last = min(max(last, first + 1), num_terms)
        yield first, last
        first = last


def read_piece(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """A copy of array[start:stop]. For a memory-mapped array, the file pages the copy touched are let go of
    (they would otherwise count in the process's resident memory until the mapping closes)."""
    piece = np.array(array[start:stop])
    mapping = getattr(array, "_mmap", None)  # np.memmap's mapping (numpy has no public name for it)
    if isinstance(mapping, mmap.mmap):
        mapping.madvise(mmap.MADV_DONTNEED)
    return piece


def block_offsets_of(offsets: np.ndarray, block_size: int) -> np.ndarray:
    """int64[V+1]: the blocks of list t are [block_offsets[t], block_offsets[t+1])."""
    blocks_per_term = (np.diff(offsets) + block_size - 1) // block_size
    return np.concatenate([[0], np.cumsum(blocks_per_term)]).astype(np.int64)


def _checked_offsets(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int) -> np.ndarray:
    offsets = np.asarray(offsets, dtype=np.int64)
    if block_size < 1 or offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[0] != 0 or \
            (np.diff(offsets) < 0).any() or doc_ids.shape != (offsets[-1],) or impacts.shape != doc_ids.shape:
        raise LexirError("posting offsets must rise from 0 to the number of postings, with as many impacts as "
                         "document numbers, and the block size must be positive")
    return offsets


def _encoded_pieces(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int, limit: int
                    ) -> Iterator[tuple[int, int, EncodedPiece]]:
    """(first term, last term + 1, its lists' blocks encoded) of consecutive ranges of whole lists."""
    for first, last in term_pieces(offsets, limit):
        start, stop = int(offsets[first]), int(offsets[last])
        local = offsets[first:last + 1] - start
        blocks = int(((np.diff(local) + block_size - 1) // block_size).sum())
        block_max, block_last_doc = np.empty(blocks, impacts.dtype), np.empty(blocks, np.int32)
        word_counts = np.empty(blocks, np.int64)
        docs = read_piece(doc_ids, start, stop)
        found = measure_blocks(local, docs, read_piece(impacts, start, stop), block_size, block_max, block_last_doc,
                               word_counts)
        if found < 0:
            raise LexirError(f"the posting list of term {first - 1 - found} does not hold ascending document "
                             "numbers (0 to 2**31 - 2) with impacts from 1 to 65,535")
        word_ends = np.cumsum(word_counts)
        words = np.empty(int(word_ends[-1]) if blocks else 0, np.uint32)
        pack_blocks(local, docs, block_size, np.concatenate([[0], word_ends]), words)
        yield first, last, EncodedPiece(block_max, block_last_doc, word_ends, words)


def _list_maxima(offsets: np.ndarray, block_size: int, block_max: np.ndarray) -> np.ndarray:
    """The largest impact of each list of a range of whole lists (0 for an empty one), from its blocks' maxima."""
    blocks = block_offsets_of(offsets - offsets[0], block_size)
    maxima = np.zeros(offsets.shape[0] - 1, dtype=block_max.dtype)
    nonempty = np.flatnonzero(np.diff(blocks) > 0)
    if nonempty.size:
        maxima[nonempty] = np.maximum.reduceat(block_max, blocks[:-1][nonempty])
    return maxima
