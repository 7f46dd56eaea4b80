"""What every export reads from an index: the current snapshot of its live documents, numbered anew, with its
vocabulary as strings, read term by term or document by document.

A built index without live updates is one part read as it lies. A live index (lexir/index/live.py) is the base
and its segments in commit order, each a part: the live documents of each part, deleted ones left out, take the
next export numbers, and their term ids are already shared (an older segment knows a prefix of the vocabulary).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lexir.corpus import Document
from lexir.encoders.base import SparseEncoder
from lexir.index.forward import DEFAULT_BATCH_POSTINGS, DocumentRows, document_rows
from lexir.index.live import Snapshot, read_commit
from lexir.index.reader import InvertedIndex

_IDS_PIECE = 100_000  # documents whose ids are read per step


@dataclass(frozen=True)
class DocumentBatch:
    """Consecutive documents: their stored fields (ids, titles, texts) and their quantized vectors."""

    rows: DocumentRows
    documents: list[Document]


@dataclass(frozen=True)
class Part:
    """One segment's live documents: `live` marks them (None: every document is live); the first takes export
    number `first`, the others follow in order."""

    index: InvertedIndex
    live: np.ndarray | None
    first: int

    @cached_property
    def num_docs(self) -> int:
        return self.index.num_docs if self.live is None else int(self.live.sum())

    @cached_property
    def numbers(self) -> np.ndarray:
        """The export number of each of the segment's documents (-1 for a deleted one)."""
        numbers = np.full(self.index.num_docs, -1, dtype=np.int64)
        numbers[self.live] = np.arange(self.first, self.first + self.num_docs)
        return numbers

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(export numbers, impacts) of the live postings of `term` in this segment."""
        if term >= self.index.num_terms:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=self.index.impacts.dtype)
        docs, impacts = self.index.postings(term)
        if self.live is None:
            return docs.astype(np.int64) + self.first, impacts
        keep = self.live[docs]
        return self.numbers[docs[keep]], impacts[keep]

    def impact_sums(self) -> np.ndarray:
        """The sum of each live document's impacts (int64), a decoded piece of the posting lists at a time."""
        sums = np.zeros(self.index.num_docs, dtype=np.int64)
        for _, _, docs, impacts in self.index.decoded_pieces():  # decoding checks every document number
            sums += np.bincount(docs, weights=impacts, minlength=self.index.num_docs).astype(np.int64)
        return sums if self.live is None else sums[self.live]

    def ids(self) -> Iterator[str]:
        store = self.index.docstore
        for first in range(0, self.index.num_docs, _IDS_PIECE):
            ids = store.ids_between(first, min(first + _IDS_PIECE, self.index.num_docs))
            yield from ids if self.live is None else (doc_id for doc_id, live in
                                                      zip(ids, self.live[first:first + len(ids)]) if live)

    def batches(self, batch_postings: int) -> Iterator[DocumentBatch]:
        """The live documents in ranges of about `batch_postings` postings (index/forward.py)."""
        store = self.index.docstore
        for rows in document_rows(self.index, batch_postings):
            documents = store.documents_between(rows.first, rows.first + len(rows))
            if self.live is None:
                yield DocumentBatch(replace(rows, first=self.first + rows.first), documents)
                continue
            keep = self.live[rows.first:rows.first + len(rows)]
            if keep.any():
                first = int(self.numbers[rows.first + int(np.argmax(keep))])
                yield DocumentBatch(rows.select(keep, first), [doc for doc, live in zip(documents, keep) if live])


class ExportSource:
    """The current snapshot of one index opened for export (see the module docstring)."""

    def __init__(self, path: Path | str, batch_postings: int = DEFAULT_BATCH_POSTINGS) -> None:
        path = Path(path)
        self.snapshot = Snapshot(path, read_commit(path))
        self.batch_postings = batch_postings
        self.parts: list[Part] = []
        first = 0
        for name, index in self.snapshot.segments.items():
            deleted = self.snapshot.deleted[name]
            live = None
            if len(deleted):
                live = np.ones(index.num_docs, dtype=bool)
                live[deleted] = False
            self.parts.append(Part(index, live, first))
            first += self.parts[-1].num_docs
        self.num_docs = first

    @property
    def index(self) -> InvertedIndex:
        """The base segment: the build's manifest, quantizer (every segment shares its scale) and encoder."""
        return self.snapshot.base

    @property
    def num_terms(self) -> int:
        return self.snapshot.num_terms

    @cached_property
    def doc_freq(self) -> np.ndarray:
        """Live documents per term."""
        return self.snapshot.doc_freq

    @cached_property
    def num_postings(self) -> int:
        return sum(int(np.asarray(part.index.doc_nnz, dtype=np.int64)[part.live].sum()) if part.live is not None
                   else part.index.manifest.num_postings for part in self.parts)

    @cached_property
    def encoder(self) -> SparseEncoder:
        return self.index.load_encoder()

    @cached_property
    def vocabulary(self) -> list[str]:
        """Term strings in id order: the encoder's (WordPiece tokens, BM25's stemmed words), then the words live
        writes appended."""
        return [*self.encoder.vocabulary, *self.snapshot.added_terms[len(self.index.added_terms):]]

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(export numbers, quantized impacts) of the live postings of `term`."""
        if len(self.parts) == 1:
            return self.parts[0].postings(term)
        docs, impacts = zip(*(part.postings(term) for part in self.parts))
        return np.concatenate(docs), np.concatenate(impacts)

    def document_lengths(self) -> np.ndarray:
        """The sum of each live document's impacts (int64, by export number)."""
        return np.concatenate([part.impact_sums() for part in self.parts])

    def ids(self) -> Iterator[str]:
        """The external ids of the live documents, by export number."""
        for part in self.parts:
            yield from part.ids()

    def batches(self, progress: bool, what: str) -> Iterator[DocumentBatch]:
        """Every live document by export number, a range at a time (bounded memory: see index/forward.py), with
        a progress bar over documents."""
        with tqdm(total=self.num_docs, desc=what, unit="doc", disable=not progress) as bar:
            for part in self.parts:
                for batch in part.batches(self.batch_postings):
                    yield batch
                    bar.update(len(batch.rows))

    def close(self) -> None:
        self.snapshot.close()
