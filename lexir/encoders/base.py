"""The sparse encoder interface and the spec an index records.

An encoder turns texts into rows of a scipy CSR matrix (float32) over its own
vocabulary. The index stores the encoder's `EncoderSpec`; a searcher rebuilds the
query encoder from it and refuses any encoder whose spec differs.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from lexir.errors import LexirError


@dataclass(frozen=True)
class EncoderSpec:
    """What an index must know to rebuild and check its query encoder.

    `model` is a registry name, hub id or local path; `vocab_fingerprint` is a
    hash of the vocabulary in id order, so that two encoders that map terms to
    different ids can never be mixed; `params` holds every setting that changes
    the vectors (activation, k1/b, top-k pruning, ...).
    """

    name: str
    kind: str
    model: str | None
    max_doc_length: int | None
    max_query_length: int | None
    vocab_fingerprint: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderSpec:
        return cls(**data)

    def differences(self, other: EncoderSpec) -> list[str]:
        """Names of the fields that differ, for error messages."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [key for key in mine if mine[key] != theirs[key]]


def check_options(options: Mapping[str, Any], allowed: Sequence[str], name: str) -> None:
    """Refuse options an encoder does not take, in one line that lists those it does."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no options"
        raise LexirError(f"encoder '{name}' does not take {', '.join(unknown)}; it takes: {takes}")


def vocabulary_fingerprint(terms: Sequence[str]) -> str:
    """A short stable hash of a vocabulary in id order."""
    digest = hashlib.sha256("\n".join(terms).encode("utf-8")).hexdigest()
    return f"sha256:{digest[:16]}:{len(terms)}"


@dataclass(frozen=True)
class CorpusStatistics:
    """What query weighting may read from the searched corpus (all live documents of every segment).

    `doc_freq[t]` counts the documents whose vector holds term t (expansion terms included);
    `text_doc_freq[t]`, where the index records it, counts the documents whose text's own tokens hold t
    (as OpenSearch's idf.json files are made); None where it is not recorded (BM25, older indexes).
    `added_terms` are the words live writes appended to the build's vocabulary (encoders with an open
    vocabulary: BM25), in id order after the build's terms; the document frequencies cover them too.
    """

    num_docs: int
    doc_freq: np.ndarray
    text_doc_freq: np.ndarray | None = None
    added_terms: tuple[str, ...] = ()


@runtime_checkable
class SparseEncoder(Protocol):
    """Encodes documents and queries to sparse vectors over one vocabulary."""

    @property
    def spec(self) -> EncoderSpec: ...

    @property
    def vocabulary(self) -> Sequence[str]:
        """Term strings in id order (column j of every matrix is `vocabulary[j]`)."""
        ...

    def encode_documents(self, texts: Sequence[str]) -> sp.csr_matrix: ...

    def encode_queries(self, texts: Sequence[str]) -> sp.csr_matrix: ...

    def use_corpus_statistics(self, statistics: CorpusStatistics) -> None:
        """Weigh later queries with the searched corpus's statistics (inference-free text or vector IDF, BM25's IDF
        after live updates); encoders whose queries do not depend on the corpus do nothing."""
        ...

    def text_doc_freq(self, texts: Sequence[str]) -> np.ndarray | None:
        """Per vocabulary term, how many of `texts` hold it among their own tokens (the index stores the sum,
        for text IDF); None for encoders that have no use for it."""
        ...

    @property
    def added_terms(self) -> tuple[str, ...]:
        """Terms appended to the build's vocabulary by `grow_vocabulary` (or taken from the statistics of a live
        index); always empty for a model's fixed vocabulary."""
        ...

    def grow_vocabulary(self, texts: Sequence[str]) -> None:
        """Append the words of `texts` that the vocabulary lacks, so that a live write indexes every word it
        holds (an open vocabulary: BM25); a model's fixed vocabulary does nothing."""
        ...


def weighted_for(encoder: SparseEncoder, statistics: CorpusStatistics) -> SparseEncoder:
    """An encoder that weighs queries with `statistics`, leaving `encoder` as it was (so that threads searching
    different commits never see each other's statistics): the encoder's own `with_corpus_statistics` where it has
    one, else a shallow copy (loaded models and tables shared) given `use_corpus_statistics`."""
    own = getattr(encoder, "with_corpus_statistics", None)
    if own is not None:
        return own(statistics)
    weighted = copy.copy(encoder)
    weighted.use_corpus_statistics(statistics)
    return weighted


def uses_corpus_statistics(encoder: SparseEncoder) -> bool:
    """Whether the encoder's queries depend on the searched corpus (False: `use_corpus_statistics` does nothing)."""
    return bool(getattr(encoder, "uses_corpus_statistics", True))


class FittedEncoder(SparseEncoder, Protocol):
    """An encoder that learns corpus statistics before it can encode documents (BM25).

    Its state is saved inside the index directory and loaded back for queries.
    """

    @property
    def is_fitted(self) -> bool: ...

    def fit(self, texts: Sequence[str] | Any) -> None: ...

    def save_state(self, folder: Path) -> None: ...

    def load_state(self, folder: Path) -> None: ...


def needs_corpus_fit(encoder: SparseEncoder) -> bool:
    """Whether `encoder` is a FittedEncoder (checked on the class: its spec is undefined before fitting)."""
    return all(callable(getattr(type(encoder), name, None)) for name in ("fit", "save_state", "load_state"))
