"""A CIFF file read as documents: its term-major postings inverted to VectorDocuments in docid order.

CIFF stores one postings list per term, lexir's builder takes documents one after another, so the file is
inverted in bounded memory, in two passes:
1. the postings lists are read in order; each posting (docid, term number, tf) goes to the bucket of its
   docid range, buffered in memory up to `buffer_postings` postings, then appended to that bucket's file in a
   work folder; the doc records (which must number documents 0..N-1 in order) give the external ids;
2. each bucket file is read in turn (a bucket covers about `buffer_postings` postings, judged from the file's
   size), stably sorted by docid (postings of a document stay in the file's term order), and its documents
   are yielded, every docid from 0 to N-1, those without postings as empty vectors, so that lexir's document
   numbers are the file's docids.
Memory is about 12 bytes per buffered posting, twice (buffer and sort); disk, 12 bytes per posting of the file.
Pass 1 runs once (on first use); the work folder is removed by `close()`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lexir.corpus import VectorDocument
from lexir.errors import LexirError
from lexir.formats.ciff import CiffReader, decoded_postings
from lexir.formats.weights import WeightRange

DEFAULT_BUFFER_POSTINGS = 1 << 24  # 16M postings: about 200 MB buffered, as much again to sort a bucket
MIN_WIRE_BYTES_PER_POSTING = 4  # docid gap and tf, each a tag byte and a varint byte at least
_RECORD = np.dtype([("doc", "<u4"), ("term", "<u4"), ("tf", "<i4")])


class CiffDocuments:
    """The documents of a CIFF file, re-iterable; `terms` is its vocabulary in the file's term order, `weights`
    describes its tfs (integers: the identity quantization keeps them when they fit)."""

    def __init__(self, path: Path | str, *, work_folder: Path | str | None = None,
                 buffer_postings: int = DEFAULT_BUFFER_POSTINGS, progress: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.source = str(path)
        self.skipped = 0  # every document of a CIFF file is read (bad input stops the read)
        self.weights = WeightRange()
        self._work_parent = Path(work_folder) if work_folder is not None else None
        self._buffer_postings = buffer_postings
        self._progress = progress
        self._work: Path | None = None
        with CiffReader(self.path) as reader:
            self.num_docs = reader.header.num_doc_records
        if self.num_docs == 0:
            raise LexirError(f"{self.path} has no doc records: lexir takes its documents' ids from them")
        self._terms: list[str] = []
        self._buckets = 0
        self._docs_per_bucket = 1

    def __enter__(self) -> CiffDocuments:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def __len__(self) -> int:
        return self.num_docs

    def skipped_summary(self) -> str:
        return ""

    @property
    def terms(self) -> list[str]:
        self._invert()
        return self._terms

    def __iter__(self) -> Iterator[VectorDocument]:
        self._invert()
        assert self._work is not None
        with open(self._work / "ids.jsonl", encoding="utf-8") as ids:
            for bucket in range(self._buckets):
                yield from self._bucket_documents(bucket, ids)

    def _bucket_documents(self, bucket: int, ids: Iterator[str]) -> Iterator[VectorDocument]:
        assert self._work is not None
        path = self._work / f"{bucket:06d}.bin"
        records = np.fromfile(path, dtype=_RECORD) if path.is_file() else np.zeros(0, _RECORD)
        records = records[np.argsort(records["doc"], kind="stable")]
        first = bucket * self._docs_per_bucket
        last = min(first + self._docs_per_bucket, self.num_docs)
        bounds = np.searchsorted(records["doc"], np.arange(first, last + 1))
        terms = self._terms
        for doc in range(first, last):
            start, end = bounds[doc - first], bounds[doc - first + 1]
            vector = {terms[t]: tf for t, tf in zip(records["term"][start:end].tolist(),
                                                    records["tf"][start:end].tolist())}
            yield VectorDocument(json.loads(next(ids)), "", "", vector=vector)

    # pass 1 -------------------------------------------------------------------------------------------------

    def _invert(self) -> None:
        if self._work is not None:
            return
        if self._work_parent is not None:
            self._work_parent.mkdir(parents=True, exist_ok=True)
        self._work = Path(tempfile.mkdtemp(prefix=".lexir-ciff-", dir=self._work_parent))
        try:
            self._distribute()
        except BaseException:
            self.close()
            raise

    def _distribute(self) -> None:
        """Pass 1: postings to bucket files, terms and ids kept."""
        assert self._work is not None
        wire_bytes = self.path.stat().st_size * (4 if self.path.suffix == ".gz" else 1)  # gz: guess the ratio
        most_postings = max(1, wire_bytes // MIN_WIRE_BYTES_PER_POSTING)
        self._docs_per_bucket = max(1, int(self.num_docs * min(1.0, self._buffer_postings / most_postings)))
        self._buckets = -(-self.num_docs // self._docs_per_bucket)
        buffers: list[list[np.ndarray]] = [[] for _ in range(self._buckets)]
        buffered = 0
        self.weights.reset()
        with CiffReader(self.path) as reader:
            lists = reader.header.num_postings_lists
            for number, message in enumerate(tqdm(reader.postings_lists(), total=lists, unit="term",
                                                  desc="reading CIFF postings", disable=not self._progress)):
                docids, tfs = decoded_postings(message)
                self._check_postings(message.term, docids, tfs)
                self._terms.append(message.term)
                self.weights.see(tfs)
                records = np.empty(docids.size, dtype=_RECORD)
                records["doc"], records["term"], records["tf"] = docids, number, tfs
                owner = docids // self._docs_per_bucket
                cuts = np.flatnonzero(np.diff(owner)) + 1
                for part in np.split(records, cuts):
                    if part.size:
                        buffers[int(part["doc"][0]) // self._docs_per_bucket].append(part)
                buffered += docids.size
                if buffered >= self._buffer_postings:
                    self._flush(buffers)
                    buffered = 0
            self._flush(buffers)
            self._write_ids(reader)

    def _check_postings(self, term: str, docids: np.ndarray, tfs: np.ndarray) -> None:
        if not docids.size:
            return
        if docids[0] < 0 or (np.diff(docids) <= 0).any() or docids[-1] >= self.num_docs:
            raise LexirError(f"{self.path}: the postings of term {term!r} are not ascending docids in 0.."
                             f"{self.num_docs - 1:,} (are its docids stored as gaps, as CIFF requires?)")
        if (tfs < 0).any():
            raise LexirError(f"{self.path}: the postings of term {term!r} hold a negative tf")

    def _flush(self, buffers: list[list[np.ndarray]]) -> None:
        assert self._work is not None
        for bucket, parts in enumerate(buffers):
            if parts:
                with open(self._work / f"{bucket:06d}.bin", "ab") as handle:
                    np.concatenate(parts).tofile(handle)
                parts.clear()

    def _write_ids(self, reader: CiffReader) -> None:
        """The doc records' collection ids, one JSON string a line in docid order."""
        assert self._work is not None
        with open(self._work / "ids.jsonl", "w", encoding="utf-8") as ids:
            for expected, record in enumerate(reader.doc_records()):
                if record.docid != expected:
                    raise LexirError(f"{self.path}: doc record {expected + 1:,} has docid {record.docid}; lexir "
                                     "reads doc records numbered 0..N-1 in order")
                if not record.collection_docid:
                    raise LexirError(f"{self.path}: doc record {expected + 1:,} (docid {record.docid}) has an "
                                     "empty collection_docid")
                ids.write(json.dumps(record.collection_docid) + "\n")
