"""What every export reads from an index: the opened index (a built one, without live updates), its vocabulary
as strings, and its documents streamed in number order with their vectors and stored fields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tqdm import tqdm

from lexir.corpus import Document
from lexir.encoders.base import SparseEncoder
from lexir.errors import LexirError
from lexir.index.forward import DEFAULT_BATCH_POSTINGS, DocumentRows, document_rows
from lexir.index.live import read_commit
from lexir.index.reader import InvertedIndex


@dataclass(frozen=True)
class DocumentBatch:
    """Consecutive documents: their stored fields (ids, titles, texts) and their quantized vectors."""

    rows: DocumentRows
    documents: list[Document]


class ExportSource:
    """One built index opened for export. Live updates (segments, deletions) are refused: an export writes one
    numbering of documents, and a live index's numbering is spread over its segments."""

    def __init__(self, path: Path | str, batch_postings: int = DEFAULT_BATCH_POSTINGS) -> None:
        self.index = InvertedIndex(path)
        commit = read_commit(self.index.path)
        deleted = sum(len(nums) for nums in commit.deleted.values())
        if commit.segments or deleted:
            raise LexirError(f"{self.index.path} has live updates ({len(commit.segments)} segment(s), {deleted:,} "
                             "deleted document(s)); export reads a built index without live updates: rebuild one "
                             "from the documents")
        self.batch_postings = batch_postings

    @cached_property
    def encoder(self) -> SparseEncoder:
        return self.index.load_encoder()

    @cached_property
    def vocabulary(self) -> list[str]:
        """Term strings in id order (the encoder's: WordPiece tokens, BM25's stemmed words)."""
        return list(self.encoder.vocabulary)

    def batches(self, progress: bool, what: str) -> Iterator[DocumentBatch]:
        """Every document in number order, a range at a time (bounded memory: see index/forward.py), with a
        progress bar over documents."""
        store = self.index.docstore
        with tqdm(total=self.index.num_docs, desc=what, unit="doc", disable=not progress) as bar:
            for rows in document_rows(self.index, self.batch_postings):
                yield DocumentBatch(rows, store.documents_between(rows.first, rows.first + len(rows)))
                bar.update(len(rows))

    def close(self) -> None:
        self.index.close()
