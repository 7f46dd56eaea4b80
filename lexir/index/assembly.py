"""External-memory assembly of a build's postings: memory bounded by a limit, whatever the corpus size.

The encoded chunks (CSR document vectors, in corpus order) are read twice. Pass 1 counts each term's postings,
each document's nonzeros (written to `doc_nnz.raw`) and the largest weight (the quantizer's scale); the int64
offsets of the lists follow. Pass 2 takes runs of consecutive chunks whose postings fit the limit, quantizes
and inverts each run in memory (postings.invert) and writes every list's slice at that list's write cursor in
two raw files, `doc_ids.raw` and `impacts.raw`: the runs come in document order, so every list comes out
ascending. The writes are positional (os.pwrite), through the page cache: pages written through a writable
memory map would count in the process's resident memory. The raw files, memory-mapped, are what
postings.write_posting_files writes the index's posting files from.

An interrupted assembly is done again from the start on resume: the chunks are all on disk, both passes only
read them, and pass 2 writes every position of the raw files again.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from lexir.errors import LexirError
from lexir.index.format import MAX_DOCS
from lexir.index.postings import (
    BYTES_PER_PIECE_POSTING,
    PIECE_POSTINGS,
    InvertedPostings,
    canonical_rows,
    invert,
    quantize_rows,
)
from lexir.index.quantize import Quantizer
from lexir.sizes import format_size

DEFAULT_MEMORY_LIMIT = 2 * 2**30
MAX_RUN_POSTINGS = 2**31 - 1  # scipy's sparse matrices switch to 64-bit indices beyond: a run stays below
CHUNK_BYTES_PER_POSTING = 24  # a chunk being read and quantized: float32 weights, int32 terms, temporaries
TERM_BYTES = 64  # per term: counts, offsets, cursors, a run's list starts, term maxima
RUN_DOC_BYTES = 24  # per document of a run: its row starts (64-bit, then scipy's 32-bit copy) and nonzeros
POSTINGS_DIR = "postings"


@dataclass(frozen=True)
class ChunkCounts:
    """What pass 1 learns from the chunks."""

    docs: np.ndarray  # int64, documents per chunk
    postings: np.ndarray  # int64, postings per chunk
    term_postings: np.ndarray  # int64, postings per term
    max_weight: float

    @property
    def num_docs(self) -> int:
        return int(self.docs.sum())

    @property
    def num_terms(self) -> int:
        return self.term_postings.shape[0]


@dataclass(frozen=True)
class MemoryPlan:
    """How a memory limit is spent: runs of consecutive chunks that take at most `run_bytes` (`posting_bytes` a
    posting, RUN_DOC_BYTES a document) and hold fewer than 2**31 postings, and pieces of `piece_postings`
    postings when the posting files are written."""

    limit: int
    run_bytes: int
    posting_bytes: int
    piece_postings: int

    @classmethod
    def fit(cls, limit: int, counts: ChunkCounts, impact_bytes: int) -> MemoryPlan:
        """The plan for `limit` bytes, or a LexirError when even one chunk does not fit in it."""
        largest = int(counts.postings.max(initial=0))
        fixed = TERM_BYTES * counts.num_terms + CHUNK_BYTES_PER_POSTING * largest
        posting_bytes = 2 * (4 + impact_bytes)  # the run's rows (term, impact) and its lists (document, impact)
        plan = cls(limit, limit - fixed, posting_bytes,
                   max(1, min(PIECE_POSTINGS, (limit - TERM_BYTES * counts.num_terms) // BYTES_PER_PIECE_POSTING)))
        needed = max((plan._bytes(docs, postings) for docs, postings in zip(counts.docs.tolist(),
                                                                           counts.postings.tolist())), default=0)
        if needed > plan.run_bytes:
            raise LexirError(
                f"the memory limit {format_size(limit)} is below what inverting one chunk takes "
                f"({format_size(fixed + needed)} for {largest:,} postings); raise --memory-limit or build with a "
                "smaller --chunk-size")
        return plan

    def _bytes(self, docs: int, postings: int) -> int:
        return self.posting_bytes * postings + RUN_DOC_BYTES * docs

    def runs(self, counts: ChunkCounts) -> list[range]:
        """Consecutive chunks, each run within `run_bytes` and below 2**31 postings (one chunk at least)."""
        runs, first, docs, postings = [], 0, 0, 0
        for number, (chunk_docs, chunk_postings) in enumerate(zip(counts.docs.tolist(), counts.postings.tolist())):
            docs, postings = docs + chunk_docs, postings + chunk_postings
            if number > first and (self._bytes(docs, postings) > self.run_bytes or postings > MAX_RUN_POSTINGS):
                runs.append(range(first, number))
                first, docs, postings = number, chunk_docs, chunk_postings
        if counts.postings.size:
            runs.append(range(first, counts.postings.size))
        return runs


def load_chunk(path: Path) -> sp.csr_matrix:
    """One encoded chunk's document vectors (see canonical_rows); a damaged file is a clear error."""
    try:
        return canonical_rows(sp.load_npz(path))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise LexirError(f"the encoded chunk {path} is damaged ({error}); pass --overwrite to rebuild") from None


def count_chunks(paths: list[Path], folder: Path, progress: bool) -> ChunkCounts:
    """Pass 1: read every chunk once; each document's nonzeros go to folder/doc_nnz.raw (int32)."""
    docs, postings, term_postings, max_weight = [], [], None, 0.0
    with open(folder / "doc_nnz.raw", "wb") as doc_nnz, \
            tqdm(total=len(paths), unit="chunk", desc="counting postings", disable=not progress) as bar:
        for path in paths:
            rows = load_chunk(path)
            if term_postings is None:
                term_postings = np.zeros(rows.shape[1], dtype=np.int64)
            elif rows.shape[1] != term_postings.shape[0]:
                raise LexirError(f"the encoded chunk {path} has {rows.shape[1]:,} terms where the others have "
                                 f"{term_postings.shape[0]:,}; pass --overwrite to rebuild")
            term_postings += np.bincount(rows.indices, minlength=rows.shape[1])
            max_weight = max(max_weight, float(rows.data.max(initial=0.0)))
            np.diff(rows.indptr).astype(np.int32).tofile(doc_nnz)
            docs.append(rows.shape[0])
            postings.append(rows.nnz)
            bar.update()
    if term_postings is None:
        raise LexirError("no encoded chunk to assemble")
    counts = ChunkCounts(np.array(docs, dtype=np.int64), np.array(postings, dtype=np.int64), term_postings,
                         max_weight)
    if counts.num_docs > MAX_DOCS:
        raise LexirError(f"{counts.num_docs:,} documents: an index holds at most {MAX_DOCS:,}")
    return counts


def invert_chunks(paths: list[Path], counts: ChunkCounts, quantizer: Quantizer, plan: MemoryPlan, folder: Path,
                  progress: bool) -> InvertedPostings:
    """Pass 2: the chunks' postings inverted, run by run, into folder/doc_ids.raw and folder/impacts.raw; returns
    them (with the offsets and pass 1's doc_nnz.raw) memory-mapped."""
    offsets = np.concatenate([[0], np.cumsum(counts.term_postings)]).astype(np.int64)
    num_postings, dtype = int(offsets[-1]), quantizer.dtype
    cursors = offsets[:-1].copy()
    first_doc = 0
    with _RawFile(folder / "doc_ids.raw", num_postings * 4) as doc_file, \
            _RawFile(folder / "impacts.raw", num_postings * dtype.itemsize) as impact_file, \
            tqdm(total=counts.num_docs, unit="doc", unit_scale=True, desc="inverting",
                 disable=not progress) as bar:
        for run in plan.runs(counts):
            inverted = _invert_run([paths[number] for number in run], counts, run, quantizer)
            np.add(inverted.doc_ids, first_doc, out=inverted.doc_ids)  # below MAX_DOCS: no int32 overflow
            _write_run(inverted, cursors, doc_file, impact_file)
            first_doc += inverted.num_docs
            bar.update(inverted.num_docs)
            del inverted  # before the next run is read: two runs' lists must never be held at once
    if not np.array_equal(cursors, offsets[1:]):
        raise LexirError(f"the encoded chunks in {paths[0].parent} changed during the build; pass --overwrite to "
                         "rebuild")
    return InvertedPostings(offsets, _mapped(folder / "doc_ids.raw", np.int32, num_postings),
                            _mapped(folder / "impacts.raw", dtype, num_postings),
                            _mapped(folder / "doc_nnz.raw", np.int32, counts.num_docs))


def fresh_folder(folder: Path) -> Path:
    """An empty folder for the raw files (what an interrupted assembly left there is discarded)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _invert_run(paths: list[Path], counts: ChunkCounts, run: range, quantizer: Quantizer) -> InvertedPostings:
    """The quantized postings of consecutive chunks, inverted in memory; document numbers from 0."""
    total_docs, total = int(counts.docs[run.start:run.stop].sum()), int(counts.postings[run.start:run.stop].sum())
    terms = np.empty(total, dtype=np.int32)
    impacts = np.empty(total, dtype=quantizer.dtype)
    indptr = np.zeros(total_docs + 1, dtype=np.int64)
    doc, held = 0, 0
    for number, path in zip(run, paths):
        rows = quantize_rows(load_chunk(path), quantizer)
        if rows.shape[0] != counts.docs[number] or rows.nnz != counts.postings[number]:
            raise LexirError(f"the encoded chunk {path} changed during the build; pass --overwrite to rebuild")
        terms[held:held + rows.nnz] = rows.indices
        impacts[held:held + rows.nnz] = rows.data
        indptr[doc + 1:doc + rows.shape[0] + 1] = rows.indptr[1:] + held
        doc, held = doc + rows.shape[0], held + rows.nnz
        del rows
    return invert(sp.csr_matrix((impacts, terms, indptr), shape=(total_docs, counts.num_terms)))


def _write_run(inverted: InvertedPostings, cursors: np.ndarray, doc_file: _RawFile, impact_file: _RawFile) -> None:
    """Each list's slice of one run at its cursor; the cursors move past it."""
    starts = inverted.offsets
    lengths = np.diff(starts)
    for term in np.flatnonzero(lengths).tolist():
        start, stop, at = int(starts[term]), int(starts[term + 1]), int(cursors[term])
        doc_file.write_at(inverted.doc_ids[start:stop], at)
        impact_file.write_at(inverted.impacts[start:stop], at)
    cursors += lengths


class _RawFile:
    """A file of fixed size written with positional writes, in units of the arrays' items."""

    def __init__(self, path: Path, size: int) -> None:
        self._descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(self._descriptor, size)

    def __enter__(self) -> _RawFile:
        return self

    def write_at(self, values: np.ndarray, item: int) -> None:
        view, position = memoryview(values).cast("B"), item * values.itemsize
        while view:
            written = os.pwrite(self._descriptor, view, position)
            view, position = view[written:], position + written

    def __exit__(self, *_: object) -> None:
        os.close(self._descriptor)


def _mapped(path: Path, dtype: np.dtype, length: int) -> np.ndarray:
    """A raw file memory-mapped read-only (an empty one as an empty array: an empty file cannot be mapped)."""
    if length == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(length,))
