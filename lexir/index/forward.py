"""Reading a term-major index document by document, in bounded memory: what exports to document-major
formats (JsonVectorCollection, OpenSearch `_bulk`) stream from.

The documents are cut into ranges of consecutive numbers whose postings fit a budget (`doc_nnz.npy` holds each
document's count, so the cuts cost no posting read). For each range one pass over the vocabulary moves a cursor
per term along its memory-mapped posting list, decoding the list's blocks (codec.py) while the documents stay
inside the range, and drops each posting straight into its document's row: the rows of a range are filled in
term order, so each document's terms come out ascending. The memory held is one range's rows plus one cursor
per term, whatever the index's size; a block that straddles two ranges is decoded once for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit

from lexir.errors import IndexFormatError
from lexir.index.codec import PostingArrays, decode_block
from lexir.index.format import REBUILD
from lexir.index.reader import InvertedIndex
from lexir.jit import CACHE

DEFAULT_BATCH_POSTINGS = 4_000_000  # ~20 MB of rows (int32 term + impact) per range, and its documents' texts
_COMPLETE = -1
_SHORT_ROWS = -2
_DAMAGED_BLOCK = -3


@dataclass(frozen=True)
class DocumentRows:
    """Documents first..first+len-1 as CSR rows: document first+i holds terms[indptr[i]:indptr[i+1]] (ascending)
    with the quantized impacts at the same positions."""

    first: int
    indptr: np.ndarray
    terms: np.ndarray
    impacts: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.indptr[i], self.indptr[i + 1]
        return self.terms[start:end], self.impacts[start:end]

    def select(self, keep: np.ndarray, first: int) -> DocumentRows:
        """The rows where `keep` (bool, one per row) is set, numbered from `first` (an export leaving deleted
        documents out)."""
        lengths = np.diff(self.indptr)
        taken = np.repeat(keep, lengths)
        indptr = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[keep], out=indptr[1:])
        return DocumentRows(first, indptr, self.terms[taken], self.impacts[taken])


def document_ranges(doc_nnz: np.ndarray, max_postings: int) -> list[tuple[int, int]]:
    """[first, stop) ranges of consecutive documents, each holding at most `max_postings` postings (or a single
    document that alone holds more)."""
    if max_postings < 1:
        raise ValueError(f"max_postings must be positive, got {max_postings}")
    ends = np.cumsum(np.asarray(doc_nnz, dtype=np.int64))
    ranges, first, done = [], 0, 0
    while first < len(ends):
        stop = int(np.searchsorted(ends, done + max_postings, side="right"))
        stop = max(stop, first + 1)
        ranges.append((first, stop))
        first, done = stop, int(ends[stop - 1])
    return ranges


def document_rows(index: InvertedIndex, max_postings: int = DEFAULT_BATCH_POSTINGS) -> Iterator[DocumentRows]:
    """Every document of `index` in number order, a range of documents at a time (see the module docstring).

    Raises IndexFormatError when the postings disagree with the document lengths or a list is out of order
    (a damaged index: `lexir index check` names the file)."""
    postings = index.posting_arrays
    offsets, impacts = postings.offsets, postings.impacts
    doc_nnz = np.asarray(index.doc_nnz)
    cursor = offsets[:-1].copy()
    for first, stop in document_ranges(doc_nnz, max_postings):
        indptr = np.zeros(stop - first + 1, dtype=np.int64)
        np.cumsum(doc_nnz[first:stop], out=indptr[1:])
        terms = np.empty(indptr[-1], dtype=np.int32)
        row_impacts = np.empty(indptr[-1], dtype=impacts.dtype)
        status = _fill_rows(postings, cursor, first, stop, indptr, terms, row_impacts)
        if status == _DAMAGED_BLOCK:
            raise IndexFormatError(f"index file {index.path / 'doc_blocks.npy'} is damaged: a block of its document "
                                   f"numbers does not decode to what block_last_doc.npy records; {REBUILD}")
        if status != _COMPLETE:
            where = f"the posting list of term {status}" if status >= 0 else f"documents {first:,}..{stop - 1:,}"
            raise IndexFormatError(f"{index.path}: {where} disagrees with doc_nnz.npy (postings out of order or "
                                   f"lengths that do not match); {REBUILD}")
        yield DocumentRows(first, indptr, terms, row_impacts)
    if not np.array_equal(cursor, offsets[1:]):
        raise IndexFormatError(f"{index.path}: posting lists hold document numbers past num_docs; {REBUILD}")


@njit(cache=CACHE, nogil=True)
def _fill_rows(postings: PostingArrays, cursor: np.ndarray, first: int, stop: int, indptr: np.ndarray,
               terms: np.ndarray, row_impacts: np.ndarray) -> int:
    """Move every term's cursor past the documents below `stop`, writing each posting into its document's row.
    Returns _COMPLETE, the term whose list breaks the rows (out of order, or a row overfilled), _SHORT_ROWS
    when a row is left short of its document's length, or _DAMAGED_BLOCK when a block fails to decode."""
    offsets, block_offsets, block_size = postings.offsets, postings.block_offsets, postings.block_size
    docs = np.empty(block_size, dtype=np.int32)
    fill = indptr[:-1].copy()
    for term in range(len(cursor)):
        position, start, end = cursor[term], offsets[term], offsets[term + 1]
        while position < end:
            block = block_offsets[term] + (position - start) // block_size
            block_first, count, ok = decode_block(postings, term, block, docs)
            if not ok:
                return _DAMAGED_BLOCK
            for j in range(position - block_first, count):
                doc = docs[j]
                if doc >= stop:
                    break
                row = doc - first
                if row < 0 or fill[row] >= indptr[row + 1]:
                    return term
                terms[fill[row]] = term
                row_impacts[fill[row]] = postings.impacts[position]
                fill[row] += 1
                position += 1
            if position < block_first + count:  # stopped at a document of a later range
                break
        cursor[term] = position
    for row in range(len(fill)):
        if fill[row] != indptr[row + 1]:
            return _SHORT_ROWS
    return _COMPLETE
