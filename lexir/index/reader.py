"""Opening an index directory: manifest checked, arrays memory-mapped, documents on demand.

A version-1 index (uncompressed postings) small enough is converted to version 2 in memory when it opens; a
larger one is refused with an error that names `lexir index upgrade` (format.py, upgrade.py)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np

from lexir.encoders.base import CorpusStatistics, SparseEncoder, needs_corpus_fit
from lexir.encoders.idf import corpus_idf
from lexir.encoders.registry import check_same_encoder, encoder_from_spec
from lexir.errors import IndexFormatError, LexirError
from lexir.files import folder_bytes
from lexir.index.codec import ARRAY_FIELDS, PostingArrays, decode_terms
from lexir.index.dense import DENSE_DIR
from lexir.index.docstore import DOCSTORE_FILE, DocStore, check_sqlite_file
from lexir.index.format import (
    ENCODER_STATE_DIR,
    REBUILD,
    V1_OPEN_POSTINGS,
    Manifest,
    read_added_terms,
    read_arrays,
    read_manifest,
)
from lexir.index.postings import encode_postings, term_pieces
from lexir.index.quantize import Quantizer


class InvertedIndex:
    """A read-only view of one index directory. Opening maps the arrays; it reads no postings."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.manifest: Manifest = read_manifest(self.path)
        arrays = read_arrays(self.path, self.manifest)
        if self.manifest.format_version == 1:
            arrays = {**arrays, **_converted(self.path, self.manifest, arrays)}
        self.offsets: np.ndarray = arrays["offsets"]
        self.doc_blocks: np.ndarray = arrays["doc_blocks"]
        self.impacts: np.ndarray = arrays["impacts"]
        self.block_words: np.ndarray = arrays["block_words"]
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

    @cached_property
    def posting_arrays(self) -> PostingArrays:
        """The posting arrays as the kernels take them: plain ndarray views of the memory maps (numba types an
        np.memmap argument in Python on every call, several microseconds a query, but an ndarray in C)."""
        return PostingArrays(*(np.asarray(getattr(self, name)) for name in ARRAY_FIELDS), self.manifest.block_size,
                             self.num_docs)

    @cached_property
    def doc_ids(self) -> np.ndarray:
        """Every posting's document number, decoded, in term order (int32[P] in memory: 4 bytes a posting), for
        whole-index passes in term order (export, the forward view); kernels decode the blocks themselves.
        Raises IndexFormatError when a block is damaged."""
        return self.decoded()[0]

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, quantized impacts) of one term, decoded."""
        return self.decoded(term, term + 1)

    def decoded(self, first_term: int = 0, last_term: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every posting of terms first_term..last_term-1 (all by default), decoded: (document numbers int32,
        impacts), in term order. Raises IndexFormatError when a block is damaged."""
        last_term = self.num_terms if last_term is None else last_term
        docs, ok = decode_terms(self.posting_arrays, first_term, last_term)
        if not ok:
            raise IndexFormatError(f"index file {self.path / 'doc_blocks.npy'} is damaged: a block of its document "
                                   f"numbers does not decode to what block_last_doc.npy records; {REBUILD}")
        return docs, np.asarray(self.impacts[self.offsets[first_term]:self.offsets[last_term]])

    def decoded_pieces(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """(first term, last term + 1, document numbers, impacts) of consecutive ranges of whole lists, about
        PIECE postings each: every posting decoded in bounded memory."""
        for first_term, last_term in term_pieces(np.asarray(self.offsets)):
            yield first_term, last_term, *self.decoded(first_term, last_term)

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


def _converted(path: Path, manifest: Manifest, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A version-1 index's posting arrays encoded as version 2, in memory (small indexes only)."""
    if manifest.num_postings > V1_OPEN_POSTINGS:
        raise IndexFormatError(f"{path} is an index of format version 1 with {manifest.num_postings:,} postings, too "
                               f"many to convert each time it opens: run `lexir index upgrade {path}` once (it "
                               "converts the index in place)")
    try:
        return encode_postings(arrays["offsets"], arrays["doc_ids"], arrays["impacts"], manifest.block_size)
    except LexirError as error:
        raise IndexFormatError(f"index file {path / 'doc_ids.npy'} is damaged ({error}); {REBUILD}") from None
