"""BM25 over two fields, contents and title, each with its own statistics, summed with weights.

A document's score for query q is
    Σ_t count_q(t) · (BM25_contents(t, d) + title_weight · BM25_title(t, d)),
where each field's BM25 is Lucene's (bm25.py) computed on that field alone: its own document frequencies
(IDF), its own length and its own average length. That is Pyserini's multifield BM25 (`--fields contents=1
title=w`, one BM25 per field, summed with the field weights), except that the contents field is what plain BM25
indexes (`Document.contents`, title and text joined), so title_weight 0 is exactly the `bm25` encoder and a
weight boosts words of the title on top of it.

Why one encoder, not a second retriever on titles fused with the first: the two fields are one vocabulary (a
title term is the word prefixed with `title:`, which the analyzer can never produce from text, since it splits
on ':'), so one exact inverted index holds both, the field weight rides on the query vector, and every search
algorithm, live write and feedback method works unchanged on the exact weighted sum. Fused lists would only
approximate it (a document missing from one list's top k gets nothing from that field).

RM3 feedback on such an index (search/feedback.py) analyzes stored texts into plain terms, so its expansion
terms land on the contents field; the original query keeps both fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from lexir.encoders.base import EncoderSpec, check_options
from lexir.encoders.bm25 import BM25Encoder
from lexir.errors import LexirError

TITLE_PREFIX = "title:"

FieldedInput = tuple[str, str] | str  # (title, contents), or contents alone (a document without a title)


class FieldedBM25Encoder(BM25Encoder):
    """BM25 of the contents field plus `title_weight` x BM25 of the title field (see the module docstring)."""

    kind = "bm25-fields"
    SETTINGS = ("k1", "b", "title_weight")
    fielded = True  # documents are given as (title, contents): Document.input_for

    def __init__(self, *, name: str = "bm25-title", k1: float = 0.9, b: float = 0.4, title_weight: float = 1.0) -> None:
        super().__init__(name=name, k1=k1, b=b)
        if isinstance(title_weight, bool) or not isinstance(title_weight, (int, float)) or title_weight < 0:
            raise LexirError(f"the title weight must be a number >= 0, got {title_weight!r}")
        self.title_weight = float(title_weight)
        self.avg_title_length = 0.0
        self._is_title = np.zeros(0, dtype=bool)

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: object) -> FieldedBM25Encoder:
        check_options(runtime, cls.RUNTIME_OPTIONS, spec.name)
        return cls(name=spec.name, k1=spec.params["k1"], b=spec.params["b"],
                   title_weight=spec.params["title_weight"])

    @property
    def spec(self) -> EncoderSpec:
        spec = super().spec
        return EncoderSpec(**{**spec.to_dict(), "params": {**spec.params, "title_weight": self.title_weight}})

    def fields(self, document: FieldedInput) -> tuple[list[str], list[str]]:
        """A document's analyzed (contents terms, title terms), title terms prefixed."""
        title, contents = ("", document) if isinstance(document, str) else document
        return self.analyzer(contents), [TITLE_PREFIX + term for term in self.analyzer(title)]

    def fit(self, documents: Iterable[FieldedInput]) -> None:
        """Learn both fields' vocabularies, document frequencies and average lengths."""
        title_length, count = 0, 0

        def terms() -> Iterable[str]:
            nonlocal title_length, count
            for document in documents:
                contents, title = self.fields(document)
                title_length += len(title)
                count += 1
                yield contents, title

        self._fit_terms(terms())
        self.avg_title_length = title_length / count

    def grow_vocabulary(self, documents: Iterable[FieldedInput]) -> None:
        self._grow_terms(term for document in documents for field in self.fields(document) for term in field)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "avg_title_length": self.avg_title_length}

    def _load_extra(self, state: dict[str, Any]) -> None:
        self.avg_title_length = float(state["avg_title_length"])

    def _after_vocabulary(self) -> None:
        self._is_title = np.fromiter((term.startswith(TITLE_PREFIX) for term in self._terms), dtype=bool,
                                     count=len(self._terms))

    def encode_documents(self, documents: Sequence[FieldedInput]) -> sp.csr_matrix:
        self._require_fitted()
        indptr, indices, data = [0], [], []
        for document in documents:
            contents, title = self.fields(document)
            ids, tf = self._ids_and_counts(contents + title)
            norm = np.where(self._is_title[ids], self._norm(len(title), self.avg_title_length),
                            self._norm(len(contents), self.avg_doc_length))
            indices.append(ids)
            data.append(self._idf[ids] * tf / (tf + norm))
            indptr.append(indptr[-1] + len(ids))
        return self._csr(indptr, indices, data)

    def _norm(self, length: int, average: float) -> float:
        return self.k1 * (1 - self.b + self.b * length / average) if average > 0 else self.k1

    def _query_terms(self, text: str) -> tuple[list[str], list[float] | None]:
        """Each query word on the contents field (weight 1) and on the title field (title_weight)."""
        terms = self.analyzer(text)
        if self.title_weight == 0:
            return terms, None
        return terms + [TITLE_PREFIX + term for term in terms], [1.0] * len(terms) + [self.title_weight] * len(terms)
