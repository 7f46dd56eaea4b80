"""Pseudo-relevance feedback: search once, rebuild the query from the top documents, search again.

Three methods, each a query-time wrapper around one retriever (`FeedbackRetriever`), so that the front door
(`open_search`) can give any retriever of a fused system its own feedback:

- `rm3` (sparse, BM25 indexes; Lavrenko & Croft's relevance model as Anserini runs it): each of the top
  `docs` documents becomes its term counts (its stored text through the index's analyzer), keeps its `terms`
  most frequent terms whose document frequency is at most 10% of the collection (longer than one character,
  [a-z0-9] only), and is scaled to unit L1 norm; term t's feedback weight is Σ_d count_d(t) / |d| · score(d)
  with the first pass's raw scores; the `terms` heaviest are kept and scaled to unit L1 norm, and the new query
  is `weight · q/|q| + (1 - weight) · feedback` (q: the query's term counts).
- `rocchio` (sparse, any index): the same interpolation, the feedback part the mean of the top documents'
  stored vectors (their dequantized impacts), each scaled to unit L1 norm, cut to its `terms` heaviest terms.
  No model runs: the vectors are read back from the index (a per-segment forward view, index/forward.py).
- `rocchio` (dense): `weight · q + (1 - weight) · mean(top documents' embeddings)`, renormalized to unit length;
  the embeddings are read back from FAISS (`reconstruct`), which flat and HNSW indexes allow (IVF-PQ keeps only
  codes: refused with a clear error).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from lexir.corpus import Document
from lexir.encoders.base import EncoderSpec
from lexir.errors import LexirError
from lexir.index.forward import document_rows
from lexir.index.live import Snapshot
from lexir.index.reader import InvertedIndex
from lexir.search.results import Hits

FEEDBACK_METHODS = ("rm3", "rocchio")
RM3_MAX_DF_RATIO = 0.1  # Anserini's df filter: a term in more than 10% of the documents is not a feedback term
_RM3_TERM = re.compile(r"[a-z0-9]{2,20}")


@dataclass(frozen=True)
class Feedback:
    """Pseudo-relevance feedback settings (Pyserini's --rm3 defaults: 10 documents, 10 terms, weight 0.5).

    Args:
        method: "rm3" (sparse BM25 indexes) or "rocchio" (any sparse index, and the dense side).
        docs: top documents of the first pass that feed back.
        terms: expansion terms kept (sparse only).
        weight: the original query's share of the new query, in [0, 1].
    """

    method: str = "rm3"
    docs: int = 10
    terms: int = 10
    weight: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in FEEDBACK_METHODS:
            raise LexirError(f"unknown feedback method {self.method!r}; use one of {', '.join(FEEDBACK_METHODS)}")
        for name in ("docs", "terms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LexirError(f"feedback {name} must be a whole number of at least 1, got {value!r}")
        if not isinstance(self.weight, (int, float)) or not 0 <= float(self.weight) <= 1:
            raise LexirError(f"the feedback weight (the original query's share) must be in [0, 1], "
                             f"got {self.weight!r}")
        object.__setattr__(self, "weight", float(self.weight))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "docs": self.docs, "terms": self.terms, "weight": self.weight}


DENSE_FEEDBACK = Feedback("rocchio", docs=3, weight=0.7)  # the dense side's defaults (see docs/benchmarks.md)


def interpolate(query: sp.csr_matrix, feedback: sp.csr_matrix, weight: float) -> sp.csr_matrix:
    """`weight · q/|q|₁ + (1 - weight) · feedback` row by row (feedback rows already of unit L1 norm or empty)."""
    return (weight * _unit_l1(query) + (1.0 - weight) * feedback).tocsr().astype(np.float32)


def top_terms(rows: sp.csr_matrix, terms: int) -> sp.csr_matrix:
    """Each row cut to its `terms` largest weights and scaled to unit L1 norm."""
    return _unit_l1(largest(rows, terms))


def largest(rows: sp.csr_matrix, terms: int) -> sp.csr_matrix:
    """Each row cut to its `terms` largest positive weights (ties: the lower term id)."""
    rows = sp.csr_matrix(rows, dtype=np.float64)
    rows.sort_indices()
    indptr, indices, data = [0], [np.zeros(0, np.int32)], [np.zeros(0)]
    for i in range(rows.shape[0]):
        ids, weights = rows.indices[rows.indptr[i]:rows.indptr[i + 1]], rows.data[rows.indptr[i]:rows.indptr[i + 1]]
        keep = np.sort(np.lexsort((ids, -weights))[:terms])
        keep = keep[weights[keep] > 0]
        indices.append(ids[keep])
        data.append(weights[keep])
        indptr.append(indptr[-1] + keep.size)
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=rows.shape, dtype=np.float64)


def relevance_model(documents: Sequence[sp.csr_matrix], scores: Sequence[np.ndarray], terms: int) -> sp.csr_matrix:
    """RM3's feedback part, one row per query: documents[q] holds the query's feedback documents' term counts
    (already filtered and cut per document), scores[q] their first-pass scores."""
    rows = []
    for counts, weights in zip(documents, scores):
        counts = _unit_l1(counts.astype(np.float64))
        rows.append(sp.csr_matrix(np.asarray(weights, dtype=np.float64)[None, :] @ counts))
    return top_terms(sp.vstack(rows, format="csr"), terms)


def rocchio_model(documents: Sequence[sp.csr_matrix], terms: int) -> sp.csr_matrix:
    """Rocchio's feedback part, one row per query: the mean of the documents' vectors, each cut to its `terms`
    heaviest terms and scaled to unit L1 norm, then cut to `terms` again."""
    rows = []
    for vectors in documents:
        cut = top_terms(vectors, terms)
        rows.append(sp.csr_matrix(cut.sum(axis=0) / max(cut.shape[0], 1)))
    return top_terms(sp.vstack(rows, format="csr"), terms)


def rm3_counts(text: str, analyze: Any, term_ids: dict[str, int], doc_freq: np.ndarray, num_docs: int,
               terms: int, size: int) -> sp.csr_matrix:
    """One feedback document as RM3 reads it: its analyzed term counts, filtered, its `terms` most frequent."""
    counts = Counter(term_ids[term] for term in analyze(text) if _RM3_TERM.fullmatch(term) and term in term_ids)
    kept = {i: n for i, n in counts.items() if doc_freq[i] <= RM3_MAX_DF_RATIO * num_docs}
    row = sp.csr_matrix((np.fromiter(kept.values(), dtype=np.float64, count=len(kept)),
                         (np.zeros(len(kept), dtype=np.int64), np.fromiter(kept, dtype=np.int64, count=len(kept)))),
                        shape=(1, size))
    return largest(row, terms)


def _unit_l1(rows: sp.csr_matrix) -> sp.csr_matrix:
    rows = sp.csr_matrix(rows, dtype=np.float64)
    norms = np.asarray(abs(rows).sum(axis=1)).ravel()
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms) @ rows


class ForwardRows:
    """Document-major views of segments (CSR of dequantized impacts), built once per segment on first use
    (one pass over its postings: the memory of its postings, ~8 bytes each)."""

    def __init__(self) -> None:
        self._rows: dict[str, sp.csr_matrix] = {}
        self._lock = threading.Lock()

    def of(self, name: str, index: InvertedIndex) -> sp.csr_matrix:
        key = str(index.path)
        rows = self._rows.get(key)
        if rows is None:
            with self._lock:
                rows = self._rows.get(key)
                if rows is None:
                    rows = self._rows[key] = _forward(index)
        return rows


def _forward(index: InvertedIndex) -> sp.csr_matrix:
    indptr, terms, impacts = [np.zeros(1, dtype=np.int64)], [], []
    for part in document_rows(index):
        indptr.append(part.indptr[1:] + indptr[-1][-1])
        terms.append(part.terms)
        impacts.append(index.quantizer.dequantize(part.impacts))
    data = np.concatenate(impacts) if impacts else np.zeros(0, dtype=np.float32)
    return sp.csr_matrix((data, np.concatenate(terms) if terms else np.zeros(0, np.int32), np.concatenate(indptr)),
                         shape=(index.num_docs, index.num_terms), dtype=np.float32)


def stored_vectors(snapshot: Snapshot, hits: Hits, forward: ForwardRows, size: int) -> sp.csr_matrix:
    """The hits' stored sparse vectors (one row each, widened to the snapshot's vocabulary `size`)."""
    rows = []
    for name, num in zip(hits.segments, hits.nums):
        row = forward.of(str(name), snapshot.segments[str(name)])[int(num)]
        rows.append(sp.csr_matrix((row.data, row.indices, row.indptr), shape=(1, size)))
    return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, size))


def hit_documents(snapshot: Snapshot, hits: Hits) -> list[Document]:
    return [snapshot.segments[str(name)].docstore.documents([int(num)])[0] for name, num in zip(hits.segments,
                                                                                                 hits.nums)]


class FeedbackRetriever:
    """A retriever searched twice: its first `feedback.docs` hits rebuild each query (see the module docstring).

    Args:
        inner: a SparseRetriever or DenseRetriever.
        feedback: the method and its settings (rm3 needs a BM25 index; dense takes rocchio only).
    """

    def __init__(self, inner: Any, feedback: Feedback) -> None:
        self.inner = inner
        self.feedback = feedback
        self.kind = inner.kind
        self.live = inner.live
        if self.kind == "dense" and feedback.method != "rocchio":
            raise LexirError(f"the dense side takes rocchio feedback, not {feedback.method}")
        if self.kind == "sparse" and feedback.method == "rm3" and inner.spec.kind != "bm25":
            raise LexirError(f"rm3 needs term counts, which a BM25 index has; this index is {inner.spec.kind} "
                             "(use --prf rocchio, which reads its stored vectors)")
        self._forward = ForwardRows()
        self._vocabulary: Sequence[str] | None = None
        self._ids: dict[str, int] = {}

    @property
    def spec(self) -> EncoderSpec:
        return self.inner.spec

    @property
    def encoder(self) -> Any:
        return self.inner.encoder

    def warm_up(self) -> None:
        self.inner.warm_up()

    def encode(self, queries: Sequence[Any]) -> Any:
        return self.inner.encode(queries)

    def documents(self, snapshot: Snapshot, hits: Hits) -> list[Document]:
        return self.inner.documents(snapshot, hits)

    def rank(self, queries: Any, k: int, options: Any) -> list[Hits]:
        first = self.inner.rank(queries, self.feedback.docs, options)
        return self.inner.rank(self.expand(queries, first), k, options)

    def rank_one(self, queries: Any, k: int, options: Any) -> Hits:
        first = [self.inner.rank_one(queries, self.feedback.docs, options)]
        return self.inner.rank_one(self.expand(queries, first), k, options)

    def expand(self, queries: Any, first: list[Hits]) -> Any:
        """The queries rebuilt from their first-pass hits (same snapshot, so the second pass sees the same
        documents)."""
        if self.kind == "dense":
            return replace(queries, vectors=self._dense(queries, first))
        vectors = queries.vectors[:len(first)]
        if self.feedback.method == "rm3":
            model = relevance_model([self._counts(queries, hits) for hits in first],
                                    [hits.scores for hits in first], self.feedback.terms)
        else:
            size = vectors.shape[1]
            model = rocchio_model([stored_vectors(queries.snapshot, hits, self._forward, size) for hits in first],
                                  self.feedback.terms)
        return replace(queries, vectors=interpolate(vectors, model, self.feedback.weight))

    def _counts(self, queries: Any, hits: Hits) -> sp.csr_matrix:
        encoder = self.inner.encoder
        snapshot = queries.snapshot
        size = queries.vectors.shape[1]
        term_ids = self._term_ids(queries.vocabulary)
        rows = [rm3_counts(f"{doc.title} {doc.text}", encoder.analyzer, term_ids, snapshot.doc_freq,
                           snapshot.num_docs, self.feedback.terms, size) for doc in hit_documents(snapshot, hits)]
        return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, size))

    def _term_ids(self, vocabulary: Sequence[str]) -> dict[str, int]:
        """Term -> id of a snapshot's vocabulary, made once per vocabulary (a live write may grow it)."""
        if self._vocabulary is not vocabulary:
            self._ids, self._vocabulary = {term: i for i, term in enumerate(vocabulary)}, vocabulary
        return self._ids

    def _dense(self, queries: Any, first: list[Hits]) -> np.ndarray:
        vectors = np.array(queries.vectors[:len(first)], dtype=np.float32)
        for row, hits in enumerate(first):
            if len(hits.keys) == 0:
                continue
            embeddings = self.inner.embeddings(queries.snapshot, hits)
            moved = self.feedback.weight * vectors[row] + (1 - self.feedback.weight) * embeddings.mean(axis=0)
            norm = float(np.linalg.norm(moved))
            vectors[row] = moved / norm if norm > 0 else moved
        return vectors

