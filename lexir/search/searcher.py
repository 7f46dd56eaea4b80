"""Exact top-k search over one index: encode the query with the index's own encoder, score, explain.

The number of hits is clamped to the number of matching documents; k <= 0 and
empty queries are errors. Scores are dot products of the query weights and the
dequantized document impacts. Every algorithm (search/algorithms/) returns the same
hits with the same scores: sums are exact in float64 (algorithms/exact.py), ranked with
ties to the lower document number, and only then multiplied by the impact scale and
rounded to float32 (so two hits may show equal float32 scores in exact-score order).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lexir.encoders.base import SparseEncoder
from lexir.encoders.registry import check_same_encoder
from lexir.errors import LexirError
from lexir.index.reader import InvertedIndex
from lexir.search.algorithms import ALGORITHMS, check_algorithm, check_heap_factor, check_query_cut
from lexir.search.algorithms.run import (
    KernelQueries,
    algorithm_codes,
    cut_queries,
    kernel_queries,
    search_many,
    search_one,
)
from lexir.search.kernels import exhaustive_top_k_batch

SparseQuery = str | Mapping[str, float] | sp.csr_matrix
QUERY_WEIGHTINGS = ("model", "idf", "model-idf")


@dataclass
class Hit:
    """One ranked document. `contributions` (term -> score part) is filled when explaining."""

    id: str
    score: float
    rank: int
    num: int
    title: str | None = None
    text: str | None = None
    contributions: dict[str, float] | None = None

    def to_dict(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if value is not None and key != "num"}


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    took_ms: float
    query_terms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"query": self.query, "hits": [hit.to_dict() for hit in self.hits], "took_ms": round(self.took_ms, 3)}


@dataclass(frozen=True)
class RankedNums:
    """Top-k of one query as document numbers and scores, before any document lookup."""

    nums: np.ndarray
    scores: np.ndarray


class Searcher:
    """Searches one index.

    Args:
        index: an index directory or an opened InvertedIndex.
        encoder: reuse an already loaded encoder; it must match the index's spec.
        query_weighting: "model" keeps the encoder's query weights; "idf" gives every query term the index's
            corpus IDF; "model-idf" multiplies the two (IDF from the index's df and N).
        query_options: query-side options for the index's encoder (e.g. idf, query_tf for inference-free).
        algorithm: "auto" (chosen per query, see search/algorithms/choice.py), "exhaustive", "maxscore" or
            "block_max_maxscore"; all exact, they differ only in speed.
        heap_factor: 1 (exact); below 1, pruning algorithms multiply their score bounds by it and skip more
            documents (approximate, faster; recall@10 measured in docs/benchmarks.md).
        query_cut: None (exact) or keep only each query's `query_cut` terms of largest bound, weight x the
            list's largest impact (approximate, faster; see search/algorithms/approximate.py).
    """

    def __init__(self, index: InvertedIndex | str | Path, encoder: SparseEncoder | None = None, *,
                 query_weighting: str = "model", query_options: Mapping[str, object] | None = None,
                 algorithm: str = "auto", heap_factor: float = 1.0, query_cut: int | None = None) -> None:
        if query_weighting not in QUERY_WEIGHTINGS:
            raise LexirError(f"query weighting must be one of {', '.join(QUERY_WEIGHTINGS)}, got {query_weighting!r}")
        self.algorithm = check_algorithm(algorithm)
        self.heap_factor = check_heap_factor(heap_factor)
        self.query_cut = check_query_cut(query_cut)
        if self.heap_factor < 1 and self.algorithm == "exhaustive":
            raise LexirError("a heap factor below 1 needs a pruning algorithm (maxscore, block_max_maxscore, auto)")
        self.index = index if isinstance(index, InvertedIndex) else InvertedIndex(index)
        self.query_weighting = query_weighting
        self.query_options = dict(query_options or {})
        if encoder is not None:
            check_same_encoder(self.index.manifest.encoder, encoder.spec)
            self.__dict__["encoder"] = encoder

    @cached_property
    def encoder(self) -> SparseEncoder:
        return self.index.load_encoder(**self.query_options)

    @cached_property
    def _term_ids(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self.encoder.vocabulary)}

    def warm_up(self) -> None:
        """Load the encoder (and its model, if any) so that it is not counted in the first query's time."""
        model = getattr(type(self.encoder), "model", None)
        if model is not None:
            _ = self.encoder.model  # type: ignore[attr-defined]
        _ = self._term_ids

    def encode(self, queries: Sequence[SparseQuery]) -> sp.csr_matrix:
        """Queries (texts, {term: weight} maps or CSR rows) as one CSR matrix over the index vocabulary."""
        texts = [q for q in queries if isinstance(q, str)]
        for text in texts:
            if not text.strip():
                raise LexirError("the query is empty; give at least one word")
        if texts and len(texts) == len(queries):  # the common case: no per-row slicing and stacking
            vectors = self.encoder.encode_queries(texts)
            if not (sp.isspmatrix_csr(vectors) and vectors.dtype == np.float32):  # encoders' own CSR: no copy
                vectors = sp.csr_matrix(vectors, dtype=np.float32)
            return self._weighted(vectors)
        encoded = iter(self.encoder.encode_queries(texts) if texts else [])
        rows = [next(encoded) if isinstance(q, str) else self._prepared(q) for q in queries]
        if not rows:
            return sp.csr_matrix((0, self.index.num_terms), dtype=np.float32)
        return self._weighted(sp.vstack(rows, format="csr", dtype=np.float32))

    def _weighted(self, vectors: sp.csr_matrix) -> sp.csr_matrix:
        """Apply the query weighting: the encoder's weights, the index's IDF, or their product."""
        if self.query_weighting == "model":
            return vectors
        idf = self.index.idf[vectors.indices]
        vectors.data = idf if self.query_weighting == "idf" else vectors.data * idf
        return vectors

    def _prepared(self, query: Mapping[str, float] | sp.csr_matrix) -> sp.csr_matrix:
        if sp.issparse(query):
            if query.shape != (1, self.index.num_terms):
                raise LexirError(f"a sparse query must have shape (1, {self.index.num_terms}), got {query.shape}")
            return sp.csr_matrix(query, dtype=np.float32)
        if not query:
            raise LexirError("the query is empty; give at least one term")
        if any(weight < 0 for weight in query.values()):
            raise LexirError("query term weights must not be negative")
        ids = [self._term_ids[t] for t in query if t in self._term_ids]
        weights = [float(query[t]) for t in query if t in self._term_ids]
        return sp.csr_matrix((weights, ids, [0, len(ids)]), shape=(1, self.index.num_terms), dtype=np.float32)

    def rank(self, vectors: sp.csr_matrix, k: int) -> list[RankedNums]:
        """Top-k document numbers and scores for each row of `vectors` (batched, multi-threaded)."""
        k = self._check_k(k)
        queries = self._kernel_queries(vectors)
        if self.algorithm == "exhaustive":
            docs, scores, counts = exhaustive_top_k_batch(
                self.index.offsets, self.index.doc_ids, self.index.impacts, queries.offsets, queries.terms,
                queries.weights, self.index.num_docs, k)
        else:
            codes = algorithm_codes(queries, self.algorithm)
            docs, scores, counts = search_many(self.index, queries, codes, k, self.heap_factor)
        return [RankedNums(docs[i, :counts[i]].copy(), self._scaled(scores[i, :counts[i]]))
                for i in range(len(counts))]

    def rank_one(self, vector: sp.csr_matrix, k: int) -> RankedNums:
        """Single-threaded top-k of one query row (lowest latency for one query)."""
        k = self._check_k(k)
        queries = self._kernel_queries(vector)
        nums, scores = search_one(self.index, queries, ALGORITHMS[self.algorithm], k, self.heap_factor)
        return RankedNums(nums, self._scaled(scores))

    def _kernel_queries(self, vectors: sp.csr_matrix) -> KernelQueries:
        queries = kernel_queries(vectors, self.index.quantizer.bits)
        return queries if self.query_cut is None else cut_queries(queries, self.index.term_max, self.query_cut)

    def _scaled(self, impact_scores: np.ndarray) -> np.ndarray:
        """Exact sums in impact units -> float32 scores in the encoder's units."""
        return (impact_scores * self.index.quantizer.scale).astype(np.float32)

    def search(self, query: SparseQuery, k: int = 10, *, explain: bool = False, with_text: bool = False
               ) -> SearchResult:
        """Search one query: text (encoded with the index's encoder) or a prepared sparse query."""
        self.warm_up()
        started = time.perf_counter()
        vector = self.encode([query])
        ranked = self.rank_one(vector, k)
        return self._result(query, vector, ranked, started, explain, with_text)

    def search_batch(self, queries: Sequence[SparseQuery], k: int = 10, *, explain: bool = False,
                     with_text: bool = False) -> list[SearchResult]:
        """Search many queries at once: one encoding pass, parallel scoring."""
        self.warm_up()
        started = time.perf_counter()
        vectors = self.encode(queries)
        ranked = self.rank(vectors, k)
        return [self._result(q, vectors[i], ranked[i], started, explain, with_text) for i, q in enumerate(queries)]

    def _result(self, query: SparseQuery, vector: sp.csr_matrix, ranked: RankedNums, started: float, explain: bool,
                with_text: bool) -> SearchResult:
        store = self.index.docstore
        documents = store.documents(ranked.nums) if with_text else None
        ids = [doc.id for doc in documents] if documents else store.ids(ranked.nums)
        hits = []
        for rank, (num, score, doc_id) in enumerate(zip(ranked.nums, ranked.scores, ids), start=1):
            hit = Hit(id=doc_id, score=float(score), rank=rank, num=int(num))
            if documents:
                hit.title, hit.text = documents[rank - 1].title, documents[rank - 1].text
            if explain:
                hit.contributions = self.explain(vector, int(num))
            hits.append(hit)
        vocabulary = self.encoder.vocabulary
        query_terms = {vocabulary[t]: float(w) for t, w in zip(vector.indices, vector.data)}
        label = query if isinstance(query, str) else " ".join(query_terms)
        return SearchResult(label, hits, (time.perf_counter() - started) * 1000, query_terms)

    def explain(self, vector: sp.csr_matrix, num: int) -> dict[str, float]:
        """Per query term, its part of document `num`'s score (terms that do not match are left out)."""
        vocabulary = self.encoder.vocabulary
        scale = self.index.quantizer.scale
        parts = {}
        # with a query cut, only the terms that survived the cut were scored
        scored = None if self.query_cut is None else set(self._kernel_queries(vector).terms.tolist())
        for term, weight in zip(vector.indices, vector.data):
            if scored is not None and int(term) not in scored:
                continue
            docs, impacts = self.index.postings(int(term))
            position = int(np.searchsorted(docs, num))
            if position < len(docs) and docs[position] == num:
                parts[vocabulary[term]] = float(np.float32(weight) * np.float32(impacts[position]) * np.float32(scale))
        return dict(sorted(parts.items(), key=lambda item: -item[1]))

    def _check_k(self, k: int) -> int:
        return clamp_k(k, self.index.num_docs)


def clamp_k(k: int, num_docs: int) -> int:
    """`k` clamped to the number of documents; k <= 0 (or not a whole number) is an error."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0:
        raise LexirError(f"k must be a positive number of hits, got {k!r}")
    return int(min(k, max(num_docs, 1)))
