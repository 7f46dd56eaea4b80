"""Posting lists: document vectors inverted in memory, and the one seam that writes an index's posting files.

`write_posting_files` is the only writer of the posting files of an index folder (a full build, whose inverted
postings are memory-mapped intermediate files, and a live segment or merge, whose postings are in memory, go
through it alike). It reads its inputs a piece of at most `piece_postings` postings at a time and derives the
per-term and per-block maxima as it goes, so its memory does not grow with the index.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from lexir.index.format import ArrayStream, write_array
from lexir.index.quantize import Quantizer

DEFAULT_BLOCK_SIZE = 64
PIECE_POSTINGS = 2**24  # postings write_posting_files holds at a time (about 8 bytes each with their blocks)
BYTES_PER_PIECE_POSTING = 8


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
    offsets, doc_ids, impacts = postings.offsets, postings.doc_ids, postings.impacts
    term_max, block_max, block_last_doc = _piece_maxima(offsets, doc_ids, impacts, block_size)
    return {
        "offsets": offsets, "doc_ids": doc_ids, "impacts": impacts, "term_max": term_max,
        "block_offsets": block_offsets_of(offsets, block_size), "block_max": block_max,
        "block_last_doc": block_last_doc, "doc_freq": np.diff(offsets), "doc_nnz": postings.doc_nnz,
    }


def write_posting_files(folder: Path, offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray,
                        block_size: int, *, piece_postings: int = PIECE_POSTINGS, progress: bool = False) -> None:
    """Write every posting file of an index folder (offsets, doc_ids, impacts, term_max, block_offsets,
    block_max, block_last_doc, doc_freq) from int64 `offsets` and the inverted `doc_ids` and `impacts` (in
    memory or memory-mapped), holding about `piece_postings` postings at a time."""
    offsets = np.asarray(offsets, dtype=np.int64)
    num_postings = int(offsets[-1])
    if doc_ids.shape != (num_postings,) or impacts.shape != (num_postings,):
        raise ValueError(f"{num_postings:,} postings by the offsets, but {doc_ids.shape} doc ids and "
                         f"{impacts.shape} impacts")
    block_offsets = block_offsets_of(offsets, block_size)
    num_blocks = int(block_offsets[-1])
    term_max = np.zeros(offsets.shape[0] - 1, dtype=impacts.dtype)
    with ArrayStream(folder, "doc_ids", np.int32, num_postings) as doc_out, \
            ArrayStream(folder, "impacts", impacts.dtype, num_postings) as impact_out, \
            ArrayStream(folder, "block_max", impacts.dtype, num_blocks) as block_max_out, \
            ArrayStream(folder, "block_last_doc", np.int32, num_blocks) as block_last_out, \
            tqdm(total=num_postings, unit="posting", unit_scale=True, desc="writing postings",
                 disable=not progress) as bar:
        for first, last, start, stop in posting_pieces(offsets, block_size, piece_postings):
            docs, piece_impacts = read_piece(doc_ids, start, stop), read_piece(impacts, start, stop)
            local = np.clip(offsets[first:last + 1], start, stop) - start
            piece_max, block_max, block_last_doc = _piece_maxima(local, docs, piece_impacts, block_size)
            np.maximum(term_max[first:last], piece_max, out=term_max[first:last])
            doc_out.append(docs)
            impact_out.append(piece_impacts)
            block_max_out.append(block_max)
            block_last_out.append(block_last_doc)
            bar.update(stop - start)
    for name, values in (("offsets", offsets), ("term_max", term_max), ("block_offsets", block_offsets),
                         ("doc_freq", np.diff(offsets))):
        write_array(folder, name, values)


def posting_pieces(offsets: np.ndarray, block_size: int, limit: int) -> Iterator[tuple[int, int, int, int]]:
    """(first term, last term + 1, first posting, last posting + 1) of consecutive pieces covering every list:
    whole lists holding at most `limit` postings together, or (a list longer than `limit`) one list's postings
    cut at block boundaries (a multiple of `block_size`, at least one block, per piece)."""
    limit = max(limit, block_size)
    num_terms = offsets.shape[0] - 1
    term = 0
    while term < num_terms:
        start, end = int(offsets[term]), int(offsets[term + 1])
        if end - start > limit:
            step = limit // block_size * block_size
            for first in range(start, end, step):
                yield term, term + 1, first, min(first + step, end)
            term += 1
            continue
        last = int(np.searchsorted(offsets, start + limit, side="right")) - 1
        last = min(max(last, term + 1), num_terms)
        yield term, last, start, int(offsets[last])
        term = last


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


def _piece_maxima(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max impact of each list, of each block, last document of each block) of lists whose blocks start at
    multiples of `block_size` from offsets[0]."""
    lengths = np.diff(offsets)
    term_max = np.zeros(len(lengths), dtype=impacts.dtype)
    nonempty = lengths > 0
    if impacts.size:
        term_max[nonempty] = np.maximum.reduceat(impacts, offsets[:-1][nonempty])
    _, block_max, block_last_doc = block_arrays(offsets, doc_ids, impacts, block_size)
    return term_max, block_max, block_last_doc


def block_arrays(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split every posting list into blocks of `block_size` postings (the last one may be shorter)."""
    lengths = np.diff(offsets)
    blocks_per_term = (lengths + block_size - 1) // block_size
    block_offsets = block_offsets_of(offsets, block_size)
    term_of_block = np.repeat(np.arange(len(lengths)), blocks_per_term)
    rank_in_term = np.arange(block_offsets[-1]) - block_offsets[:-1][term_of_block]
    starts = offsets[:-1][term_of_block] + rank_in_term * block_size
    ends = np.minimum(starts + block_size, offsets[1:][term_of_block])
    block_max = np.maximum.reduceat(impacts, starts) if starts.size else np.zeros(0, impacts.dtype)
    block_last_doc = doc_ids[ends - 1] if ends.size else np.zeros(0, np.int32)
    return block_offsets, block_max.astype(impacts.dtype), block_last_doc.astype(np.int32)
