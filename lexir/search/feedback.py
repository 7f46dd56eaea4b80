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

import heapq
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
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

FEEDBACK_METHODS = ("rm3", "rocchio", "auto")  # auto: rm3 on BM25 indexes, rocchio on the others
RM3_KINDS = ("bm25", "bm25-fields")  # indexes whose stored texts give the term counts RM3 reads
RM3_MAX_DF_RATIO = 0.1  # Anserini's df filter: a term in more than 10% of the documents is not a feedback term
MAX_FEEDBACK_DOCS = 1000
ANALYZED_CACHE = 100_000  # feedback documents whose analyzed term counts are kept (the oldest go first)
_RM3_TERM = re.compile(r"[a-z0-9]{2,20}")


@dataclass(frozen=True)
class Feedback:
    """Pseudo-relevance feedback settings (Pyserini's --rm3 defaults: 10 documents, 10 terms, weight 0.5).

    Args:
        method: "rm3" (sparse BM25 indexes), "rocchio" (any sparse index, and the dense side) or "auto" (each
            sparse side its own: rm3 on BM25 indexes, rocchio on the others, so that one fused run feeds back
            RM3 on BM25 beside Rocchio on SPLADE).
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
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_FEEDBACK_DOCS:
                raise LexirError(f"feedback {name} must be a whole number from 1 to {MAX_FEEDBACK_DOCS}, "
                                 f"got {value!r}")
        if not isinstance(self.weight, (int, float)) or not 0 <= float(self.weight) <= 1:
            raise LexirError(f"the feedback weight (the original query's share) must be in [0, 1], "
                             f"got {self.weight!r}")
        object.__setattr__(self, "weight", float(self.weight))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "docs": self.docs, "terms": self.terms, "weight": self.weight}


DENSE_FEEDBACK = Feedback("rocchio", docs=5, weight=0.9)  # the dense side's defaults (see docs/benchmarks.md)


TermWeights = dict[int, float]  # term id -> weight: one query's or one document's vector (a few dozen terms)


def interpolate(query: TermWeights, feedback: TermWeights, weight: float) -> TermWeights:
    """`weight · q/|q|₁ + (1 - weight) · feedback` (feedback already of unit L1 norm, or empty)."""
    mixed = {term: weight * value for term, value in unit(query).items()}
    for term, value in feedback.items():
        mixed[term] = mixed.get(term, 0.0) + (1.0 - weight) * value
    return mixed


def unit(weights: TermWeights) -> TermWeights:
    """Scaled to unit L1 norm (an all-zero vector stays as it is)."""
    total = sum(abs(value) for value in weights.values())
    return {term: value / total for term, value in weights.items()} if total > 0 else dict(weights)


def largest(weights: TermWeights, terms: int) -> TermWeights:
    """The `terms` largest positive weights (ties: the lower term id)."""
    return dict(heapq.nsmallest(terms, (item for item in weights.items() if item[1] > 0),
                                key=lambda item: (-item[1], item[0])))


def relevance_model(documents: Sequence[TermWeights], scores: Sequence[float], terms: int) -> TermWeights:
    """RM3's feedback part: Σ_d count_d(t) / |d|₁ · score(d) over the feedback documents' (filtered, cut) term
    counts, its `terms` heaviest terms, scaled to unit L1 norm."""
    model: TermWeights = {}
    for counts, score in zip(documents, scores):
        norm = sum(counts.values())
        if norm <= 0.001:  # a document with no usable term adds nothing (and divides by nothing)
            continue
        for term, count in counts.items():
            model[term] = model.get(term, 0.0) + count / norm * float(score)
    return unit(largest(model, terms))


def rocchio_model(documents: Sequence[TermWeights], terms: int) -> TermWeights:
    """Rocchio's feedback part: the mean of the documents' vectors, each cut to its `terms` heaviest terms and
    scaled to unit L1 norm; then its `terms` heaviest, scaled to unit L1 norm."""
    model: TermWeights = {}
    for vector in documents:
        for term, value in unit(largest(vector, terms)).items():
            model[term] = model.get(term, 0.0) + value / len(documents)
    return unit(largest(model, terms))


def rm3_term_ids(vocabulary: Sequence[str]) -> dict[str, int]:
    """Term -> id of the vocabulary's terms that RM3 may feed back: 2-20 characters of [a-z0-9] (so never a
    field-prefixed `title:` term)."""
    return {term: i for i, term in enumerate(vocabulary) if _RM3_TERM.fullmatch(term)}


@dataclass(frozen=True)
class TermCounts:
    """One document's counts of the terms RM3 may feed back, most frequent first (ties: the lower term id), so
    that cutting it to its top terms is a slice, whatever the query (computed once per document, cached)."""

    ids: np.ndarray
    counts: np.ndarray


def term_counts(terms_of_text: Sequence[str], term_ids: dict[str, int]) -> TermCounts:
    """The counts of a document's analyzed terms that RM3 may feed back (`term_ids`: rm3_term_ids)."""
    pairs = [(term_ids[term], count) for term, count in Counter(terms_of_text).items() if term in term_ids]
    ids = np.fromiter((term for term, _ in pairs), dtype=np.int64, count=len(pairs))
    counts = np.fromiter((count for _, count in pairs), dtype=np.float64, count=len(pairs))
    order = np.lexsort((ids, -counts))
    return TermCounts(ids[order], counts[order])


def rm3_counts(counts: TermCounts, common: np.ndarray, terms: int) -> TermWeights:
    """One feedback document as RM3 reads it: its `term_counts` without the `common` terms (in over 10% of the
    documents), cut to its `terms` most frequent (ties: the lower term id), most frequent first."""
    kept = ~common[counts.ids]
    return dict(zip(counts.ids[kept][:terms].tolist(), counts.counts[kept][:terms].tolist()))


def to_rows(vectors: Sequence[TermWeights], size: int) -> sp.csr_matrix:
    """Query vectors as CSR rows over a vocabulary of `size` terms."""
    indptr = np.cumsum([0] + [len(vector) for vector in vectors])
    ids = np.fromiter((term for vector in vectors for term in sorted(vector)), dtype=np.int32, count=indptr[-1])
    weights = np.fromiter((vector[term] for vector in vectors for term in sorted(vector)), dtype=np.float32,
                          count=indptr[-1])
    return sp.csr_matrix((weights, ids, indptr), shape=(len(vectors), size), dtype=np.float32)


def row_weights(rows: sp.csr_matrix, i: int) -> TermWeights:
    start, end = rows.indptr[i], rows.indptr[i + 1]
    return dict(zip(rows.indices[start:end].tolist(), rows.data[start:end].astype(np.float64).tolist()))


class ForwardRows:
    """Document-major views of segments (CSR of dequantized impacts), built once per segment on first use
    (one pass over its postings: the memory of its postings, ~8 bytes each)."""

    def __init__(self) -> None:
        self._rows: dict[str, sp.csr_matrix] = {}
        self._lock = threading.Lock()

    def of(self, index: InvertedIndex) -> sp.csr_matrix:
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


def stored_vectors(snapshot: Snapshot, hits: Hits, forward: ForwardRows) -> list[TermWeights]:
    """The hits' stored sparse vectors (dequantized impacts)."""
    return [row_weights(forward.of(snapshot.segments[str(name)]), int(num)) for name, num in zip(hits.segments,
                                                                                                 hits.nums)]


class _SharedCaches:
    """What feedback keeps about one retriever's documents, whatever the feedback settings: the forward rows (the
    memory of the collection's postings), analyzed texts, term ids and common terms. Every FeedbackRetriever over
    the same retriever shares one, so a server that makes one per feedback setting a request names builds them
    once."""

    def __init__(self) -> None:
        self.forward = ForwardRows()
        self.ids: tuple[Sequence[str] | None, dict[str, int]] = (None, {})  # one (vocabulary, ids) pair
        self.analyzed: dict[tuple[str, int], TermCounts] = {}  # (segment, number) -> its term counts
        self.common_terms: tuple[Callable[[], Snapshot | None], np.ndarray] = (lambda: None, np.zeros(0, bool))
        self.lock = threading.Lock()


_CACHES: weakref.WeakKeyDictionary[Any, _SharedCaches] = weakref.WeakKeyDictionary()  # retriever -> its caches
_CACHES_LOCK = threading.Lock()


def _caches_of(retriever: Any) -> _SharedCaches:
    with _CACHES_LOCK:
        caches = _CACHES.get(retriever)
        if caches is None:
            caches = _CACHES[retriever] = _SharedCaches()
        return caches


class FeedbackRetriever:
    """A retriever searched twice: its first `feedback.docs` hits rebuild each query (see the module docstring).

    Args:
        inner: a SparseRetriever or DenseRetriever.
        feedback: the method and its settings (rm3 needs a BM25 index; dense takes rocchio only).
    """

    def __init__(self, inner: Any, feedback: Feedback) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.live = inner.live
        if feedback.method == "auto" and self.kind == "sparse":
            feedback = replace(feedback, method="rm3" if inner.spec.kind in RM3_KINDS else "rocchio")
        self.feedback = feedback
        if self.kind == "dense" and feedback.method != "rocchio":
            raise LexirError(f"the dense side takes rocchio feedback, not {feedback.method}")
        if self.kind == "sparse" and feedback.method == "rm3" and inner.spec.kind not in RM3_KINDS:
            raise LexirError(f"rm3 needs term counts, which a BM25 index has; this index is {inner.spec.kind} "
                             "(use --prf rocchio, which reads its stored vectors)")

    @cached_property
    def _caches(self) -> _SharedCaches:
        """The caches of the retriever it wraps, shared with every other FeedbackRetriever over it (first use)."""
        return _caches_of(self.inner)

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
        vectors = queries.vectors
        if self.feedback.method == "rm3":
            models = [relevance_model(self._counts(queries, hits), hits.scores, self.feedback.terms)
                      for hits in first]
        else:
            models = [rocchio_model(stored_vectors(queries.snapshot, hits, self._caches.forward), self.feedback.terms)
                      for hits in first]
        expanded = [interpolate(row_weights(vectors, row), model, self.feedback.weight)
                    for row, model in enumerate(models)]
        return replace(queries, vectors=to_rows(expanded, vectors.shape[1]))

    def _counts(self, queries: Any, hits: Hits) -> list[TermWeights]:
        """The hits' term counts as RM3 reads them (their stored text through the index's analyzer); the texts
        not analyzed before are read in one docstore call per segment."""
        snapshot = queries.snapshot
        keys = [(str(name), int(num)) for name, num in zip(hits.segments, hits.nums)]
        analyzed = self._caches.analyzed
        found = {key: analyzed.get((str(snapshot.segments[key[0]].path), key[1])) for key in keys}
        missing: dict[str, list[int]] = {}
        for name, num in (key for key, counts in found.items() if counts is None):
            missing.setdefault(name, []).append(num)
        if missing:
            term_ids = self._term_ids(queries.vocabulary)
            for name, nums in missing.items():
                segment = snapshot.segments[name]
                for num, document in zip(nums, segment.docstore.documents(nums)):
                    counts = term_counts(self.inner.encoder.analyzer(f"{document.title} {document.text}"), term_ids)
                    found[name, num] = counts
                    with self._caches.lock:  # API threads share the cache
                        if len(analyzed) >= ANALYZED_CACHE:
                            analyzed.pop(next(iter(analyzed)))
                        analyzed[str(segment.path), num] = counts
        common = self._common(snapshot)
        return [rm3_counts(found[key], common, self.feedback.terms) for key in keys]

    def _common(self, snapshot: Snapshot) -> np.ndarray:
        """Per term, whether it is in over RM3_MAX_DF_RATIO of the snapshot's documents (made once per snapshot)."""
        known, common = self._caches.common_terms  # read once: another thread may replace the pair meanwhile
        if known() is not snapshot:
            common = np.asarray(snapshot.doc_freq) > RM3_MAX_DF_RATIO * snapshot.num_docs
            self._caches.common_terms = (weakref.ref(snapshot), common)
        return common

    def _term_ids(self, vocabulary: Sequence[str]) -> dict[str, int]:
        """rm3_term_ids of a snapshot's vocabulary, made once per vocabulary (a live write may grow it)."""
        known, ids = self._caches.ids  # read once: another thread may replace the pair meanwhile
        if known is not vocabulary:
            ids = rm3_term_ids(vocabulary)
            self._caches.ids = (vocabulary, ids)
        return ids

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

