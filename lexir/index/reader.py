"""Opening an index directory: manifest checked, arrays memory-mapped, documents on demand."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from lexir.encoders.base import CorpusStatistics, SparseEncoder, needs_corpus_fit
from lexir.encoders.idf import corpus_idf
from lexir.encoders.registry import check_same_encoder, encoder_from_spec
from lexir.errors import IndexFormatError
from lexir.files import folder_bytes
from lexir.index.dense import DENSE_DIR
from lexir.index.docstore import DOCSTORE_FILE, DocStore, check_sqlite_file
from lexir.index.format import ENCODER_STATE_DIR, REBUILD, Manifest, read_added_terms, read_arrays, read_manifest
from lexir.index.quantize import Quantizer


class InvertedIndex:
    """A read-only view of one index directory. Opening maps the arrays; it reads no postings."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.manifest: Manifest = read_manifest(self.path)
        arrays = read_arrays(self.path, self.manifest)
        self.offsets: np.ndarray = arrays["offsets"]
        self.doc_ids: np.ndarray = arrays["doc_ids"]
        self.impacts: np.ndarray = arrays["impacts"]
        self.term_max: np.ndarray = arrays["term_max"]
        self.block_offsets: np.ndarray = arrays["block_offsets"]
        self.block_max: np.ndarray = arrays["block_max"]
        self.block_last_doc: np.ndarray = arrays["block_last_doc"]
        self.doc_freq: np.ndarray = arrays["doc_freq"]
        self.doc_nnz: np.ndarray = arrays["doc_nnz"]
        self.text_doc_freq: np.ndarray | None = arrays.get("text_doc_freq")
        if (self.path / DOCSTORE_FILE).is_file():  # (a missing store is reported when documents are first read)
            check_sqlite_file(self.path / DOCSTORE_FILE)

    @property
    def num_docs(self) -> int:
        return self.manifest.num_docs

    @property
    def num_terms(self) -> int:
        return self.manifest.num_terms

    @property
    def quantizer(self) -> Quantizer:
        return self.manifest.quantization

    @cached_property
    def added_terms(self) -> tuple[str, ...]:
        """The words live writes appended to the build's vocabulary, up to this segment's write (see bm25.py)."""
        return read_added_terms(self.path, self.manifest)

    @cached_property
    def statistics(self) -> CorpusStatistics:
        """N and the stored document frequencies: what query weighting reads from this index."""
        return CorpusStatistics(self.num_docs, self.doc_freq, self.text_doc_freq, self.added_terms)

    @cached_property
    def idf(self) -> np.ndarray:
        """Corpus IDF of every term from the stored document frequencies (see encoders/idf.py)."""
        return corpus_idf(self.doc_freq, self.num_docs)

    @cached_property
    def docstore(self) -> DocStore:
        """The document store, checked to number documents 0..num_docs-1 (two lookups in its rowid tree)."""
        store = DocStore(self.path / DOCSTORE_FILE, readonly=True)
        numbers = store.number_range()
        if numbers != (0, self.num_docs - 1):
            store.close()
            raise IndexFormatError(f"document store {store.path} holds document numbers {numbers} where the "
                                   f"manifest counts {self.num_docs:,} documents; {REBUILD}")
        return store

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, quantized impacts) of one term."""
        start, end = self.offsets[term], self.offsets[term + 1]
        return self.doc_ids[start:end], self.impacts[start:end]

    def load_encoder(self, **runtime: object) -> SparseEncoder:
        """The encoder the index was built with, with its fitted state (e.g. the BM25 vocabulary)."""
        encoder = encoder_from_spec(self.manifest.encoder, **runtime)
        if needs_corpus_fit(encoder):
            try:
                encoder.load_state(self.path / ENCODER_STATE_DIR)
            except (ValueError, KeyError, TypeError) as error:  # a damaged state file (JSON, or its contents)
                raise IndexFormatError(f"the encoder state in {self.path / ENCODER_STATE_DIR} is damaged ({error!r})"
                                       f"; {REBUILD}") from None
        encoder.use_corpus_statistics(self.statistics)
        check_same_encoder(self.manifest.encoder, encoder.spec)
        if len(encoder.vocabulary) != self.num_terms:  # query term numbers index the offsets
            raise IndexFormatError(f"{self.path}: the encoder's vocabulary holds {len(encoder.vocabulary):,} terms, "
                                   f"the index {self.num_terms:,}; {REBUILD}")
        return encoder

    def size_bytes(self) -> int:
        """Bytes of the sparse index; a dense side (`dense/`) is counted by its own DenseIndex."""
        return folder_bytes(self.path, exclude=(DENSE_DIR,))

    def close(self) -> None:
        if "docstore" in self.__dict__:
            self.docstore.close()
