"""Pre-encoded documents: the `vectors` encoder of indexes built from JsonVectorCollection or CIFF files.

Its documents arrive as {token: weight} maps (VectorDocument.encoder_input), and "encoding" a chunk turns
them into CSR rows over the index vocabulary. That vocabulary is either
- the query encoder's (`--query-encoder splade-tiny`, an inference-free query side, a model folder): the tokens
  must belong to it (one error names the first few that do not), and queries are encoded by it, with its own
  corpus weighting (an inference-free IDF); the spec records the query encoder's spec, so searching rebuilds it;
- or, with no query encoder, the collection's own tokens (sorted, or a CIFF file's term order), saved in the
  index's `encoder/` state like BM25's: queries must then come pre-encoded ({token: weight} maps), and text
  queries get one clear error.
Weights are taken as they are (zeros dropped); quantization happens in the builder as for any encoder.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lexir.encoders.base import (
    CorpusStatistics,
    EncoderSpec,
    SparseEncoder,
    check_options,
    needs_corpus_fit,
    uses_corpus_statistics,
    vocabulary_fingerprint,
    weighted_for,
)
from lexir.errors import LexirError
from lexir.files import write_json_atomic

STATE_FILE = "vectors.json"
SHOWN_MISSING = 5  # missing tokens named in the error


class VectorsEncoder:
    """Documents given as {token: weight} maps; queries by `query_encoder`, or given as maps when it is None."""

    kind = "vectors"
    SETTINGS = ()
    RUNTIME_OPTIONS = ()  # query-side options go to the query encoder (from_spec)
    added_terms: tuple[str, ...] = ()  # the vocabulary is fixed once built

    def __init__(self, query_encoder: SparseEncoder | None = None, *, vocabulary: Sequence[str] | None = None,
                 name: str | None = None) -> None:
        if query_encoder is not None and needs_corpus_fit(query_encoder):
            raise LexirError(f"'{getattr(query_encoder, 'name', query_encoder)}' cannot be the query encoder "
                             " of pre-encoded vectors: its vocabulary is learned from texts; use a model "
                             "(splade-tiny, an inference-free encoder, a model folder) or none")
        if query_encoder is not None and vocabulary is not None:
            raise LexirError("pre-encoded vectors take the query encoder's vocabulary or their own, not both")
        self.query_encoder = query_encoder
        self.name = name or ("vectors" if query_encoder is None else f"vectors+{query_encoder.spec.name}")
        self._terms: list[str] | None = list(vocabulary) if vocabulary is not None else None
        self._term_ids: dict[str, int] | None = None

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: Any) -> VectorsEncoder:
        """The encoder `spec` describes; its query encoder is rebuilt from its recorded spec (with `runtime`, the
        query encoder's options); without one, the vocabulary is in the index (`load_state`)."""
        from lexir.encoders.registry import encoder_from_spec  # the registry lists this class

        recorded = spec.params.get("query_encoder")
        if recorded is None:
            check_options(runtime, cls.RUNTIME_OPTIONS, spec.name)
            return cls(None, name=spec.name)
        return cls(encoder_from_spec(EncoderSpec.from_dict(recorded), **runtime), name=spec.name)

    @property
    def is_fitted(self) -> bool:
        return self.query_encoder is not None or self._terms is not None

    @property
    def vocabulary(self) -> Sequence[str]:
        if self.query_encoder is not None:
            return self.query_encoder.vocabulary
        self._require_fitted()
        return self._terms  # type: ignore[return-value]

    @property
    def spec(self) -> EncoderSpec:
        query = self.query_encoder
        if query is None:
            return EncoderSpec(name=self.name, kind=self.kind, model=None, max_doc_length=None, max_query_length=None,
                               vocab_fingerprint=vocabulary_fingerprint(self.vocabulary),
                               params={"query_encoder": None})
        query_spec = query.spec
        return EncoderSpec(name=self.name, kind=self.kind, model=query_spec.model, max_doc_length=None,
                           max_query_length=query_spec.max_query_length,
                           vocab_fingerprint=query_spec.vocab_fingerprint,
                           params={"query_encoder": query_spec.to_dict()})

    @property
    def model(self) -> Any:
        """The query encoder's model (loaded by a searcher's warm-up), None without one."""
        return getattr(self.query_encoder, "model", None)

    # the collection's own vocabulary ------------------------------------------------------------------------

    def fit(self, vectors: Iterable[Mapping[str, float]]) -> None:
        """Take the sorted tokens of every document as the vocabulary (only without a query encoder)."""
        tokens: set[str] = set()
        for vector in vectors:
            tokens.update(vector)
        if not tokens:
            raise LexirError("every document vector is empty: there is nothing to index")
        self._terms = sorted(tokens)
        self._term_ids = None

    def save_state(self, folder: Path) -> None:
        write_json_atomic(folder / STATE_FILE, {"terms": self._terms if self.query_encoder is None else None})

    def load_state(self, folder: Path) -> None:
        path = folder / STATE_FILE
        if not path.is_file():
            raise LexirError(f"the vectors encoder's state file {path} is missing: the index is incomplete; rebuild it")
        if self.query_encoder is None:
            self._terms = list(json.loads(path.read_text(encoding="utf-8"))["terms"])
            self._term_ids = None

    # encoding -----------------------------------------------------------------------------------------------

    @property
    def term_ids(self) -> dict[str, int]:
        if self._term_ids is None:
            self._term_ids = {term: i for i, term in enumerate(self.vocabulary)}
        return self._term_ids

    def encode_documents(self, vectors: Sequence[Mapping[str, float]]) -> sp.csr_matrix:
        """CSR rows over the vocabulary, zero weights dropped; tokens outside it stop with one error."""
        if any(isinstance(vector, str) for vector in vectors):
            raise LexirError(f"the index's encoder '{self.name}' takes pre-encoded documents ({{token: weight}} "
                             "vectors), not texts")
        term_ids = self.term_ids
        indptr, indices, data = [0], [], []
        missing: dict[str, None] = {}
        for vector in vectors:
            ids = [term_ids.get(token, -1) for token in vector]
            weights = np.fromiter(vector.values(), dtype=np.float32, count=len(vector))
            known = np.asarray(ids, dtype=np.int64)
            if (known < 0).any():
                missing.update((token, None) for token, i in zip(vector, ids) if i < 0)
            keep = (known >= 0) & (weights > 0)
            indices.append(known[keep])
            data.append(weights[keep])
            indptr.append(indptr[-1] + int(keep.sum()))
        if missing:
            self._refuse(list(missing))
        matrix = sp.csr_matrix(
            (np.concatenate(data) if data else np.zeros(0, np.float32),
             np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32),
             np.array(indptr, dtype=np.int64)),
            shape=(len(indptr) - 1, len(self.vocabulary)), dtype=np.float32)
        matrix.sort_indices()
        return matrix

    def _refuse(self, missing: list[str]) -> None:
        shown = ", ".join(repr(token) for token in missing[:SHOWN_MISSING])
        more = f" and {len(missing) - SHOWN_MISSING:,} more" if len(missing) > SHOWN_MISSING else ""
        if self.query_encoder is None:
            raise LexirError(f"tokens {shown}{more} are not in the vocabulary fitted on this collection: the file "
                             "changed during the build; build again with --overwrite")
        raise LexirError(f"tokens {shown}{more} are not in the vocabulary of the query encoder "
                         f"'{self.query_encoder.spec.name}': the vectors were made with another vocabulary; "
                         "choose the query encoder that made them, or none (queries then come pre-encoded)")

    def encode_queries(self, texts: Sequence[str]) -> sp.csr_matrix:
        if self.query_encoder is None:
            raise LexirError(f"this index holds pre-encoded vectors without a query encoder ('{self.name}'): give "
                             "queries as vectors (lexir search --query-vector '{\"token\": weight}', lexir eval "
                             "--queries FILE of pre-encoded topics), or rebuild it with --query-encoder")
        return self.query_encoder.encode_queries(texts)

    # the query encoder's corpus weighting ---------------------------------------------------------------------

    @property
    def uses_corpus_statistics(self) -> bool:
        return self.query_encoder is not None and uses_corpus_statistics(self.query_encoder)

    def use_corpus_statistics(self, statistics: CorpusStatistics) -> None:
        if self.query_encoder is not None:
            self.query_encoder.use_corpus_statistics(statistics)

    def with_corpus_statistics(self, statistics: CorpusStatistics) -> VectorsEncoder:
        """A copy whose query encoder weighs queries by `statistics` (this encoder is unchanged)."""
        weighted = copy.copy(self)
        if self.query_encoder is not None:
            weighted.query_encoder = weighted_for(self.query_encoder, statistics)
        return weighted

    def text_doc_freq(self, texts: Sequence[str]) -> np.ndarray | None:
        """The query encoder's text df (an inference-free text IDF counts the documents' `contents`)."""
        return None if self.query_encoder is None else self.query_encoder.text_doc_freq(texts)

    def grow_vocabulary(self, texts: Sequence[str]) -> None:
        """Pre-encoded vocabularies are fixed."""

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise LexirError("the vectors encoder has no vocabulary yet: fit it on the collection or load it from "
                             "an index")
