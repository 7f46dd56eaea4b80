"""Sparse retrieval over a live index: every segment searched with one query vector, tombstones honoured.

Queries are encoded once with the index's own encoder, which weighs them with the statistics of the live
documents of all segments (`Snapshot.statistics`: inference-free corpus IDF, BM25's IDF after updates), and
re-weighted by `query_weighting` ("idf" / "model-idf": the corpus IDF of the live documents). Each segment
is asked for k plus its tombstones, deleted documents are dropped, and the lists merge by score (ties: the
older segment, then the lower document number). Encoding and ranking use one snapshot, so a search never
sees half a write; the statistics weigh queries through a per-snapshot copy of the encoder's query-side state
(`weighted_for`), never by changing the shared encoder, so threads searching different commits cannot mix
them, and encoders whose queries do not depend on the corpus (SPLADE) are used as they are, unserialized.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from lexir.corpus import Document
from lexir.encoders.base import EncoderSpec, SparseEncoder, uses_corpus_statistics, weighted_for
from lexir.encoders.idf import corpus_idf
from lexir.encoders.registry import check_same_encoder
from lexir.errors import LexirError
from lexir.index.live import LiveIndex, Snapshot
from lexir.search.algorithms.dispatch import KernelQueries, kernel_queries
from lexir.search.options import SearchOptions
from lexir.search.results import Hits
from lexir.search.segment import SegmentSearcher
from lexir.search.segments import SegmentCache, merged_hits

SparseQuery = str | Mapping[str, float] | sp.csr_matrix


@dataclass(frozen=True)
class SparseQueries:
    """Query vectors weighted for one snapshot, which ranking must then search."""

    snapshot: Snapshot
    vectors: sp.csr_matrix
    labels: list[str]
    vocabulary: Sequence[str]  # the snapshot's (live writes may have grown the build's: see bm25.py)

    def terms(self, row: int) -> dict[str, float]:
        vector = self.vectors[row]
        return {self.vocabulary[t]: float(w) for t, w in zip(vector.indices, vector.data)}


@dataclass(frozen=True)
class _Weighting:
    """What weighs queries for one snapshot: the encoder (weighted by its statistics, with its vocabulary) and
    the live corpus IDF."""

    encoder: SparseEncoder
    idf: np.ndarray | None

    @cached_property
    def term_ids(self) -> dict[str, int]:
        """Term -> id, for queries given as {term: weight} maps."""
        return {term: i for i, term in enumerate(self.encoder.vocabulary)}


class SparseRetriever:
    """A live index's inverted index (base and added segments) searched as one.

    Args:
        live: the live index (a built index directory opens as one with no added segments).
        query_weighting: "model", "idf" or "model-idf" (see SearchOptions).
        query_options: query-side options for the index's encoder (e.g. idf, query_tf for inference-free).
        encoder: an already loaded query encoder to reuse; it must match the index's spec.
        device: where the index's encoder runs its model, if it has one (lexir.encoders.device).
    """

    kind = "sparse"

    def __init__(self, live: LiveIndex, *, query_weighting: str = "model",
                 query_options: Mapping[str, object] | None = None, encoder: SparseEncoder | None = None,
                 device: str | None = None) -> None:
        self.live = live
        self.query_weighting = query_weighting
        self.query_options = dict(query_options or {})
        self.device = device
        if encoder is not None:
            check_same_encoder(self.spec, encoder.spec)
        self._given_encoder = encoder
        self._segments = SegmentCache(SegmentSearcher)
        self._weightings: weakref.WeakKeyDictionary[Snapshot, _Weighting] = weakref.WeakKeyDictionary()
        self._weighing = threading.Lock()

    @property
    def spec(self) -> EncoderSpec:
        return self.live.snapshot().base.manifest.encoder

    @property
    def segment_cache(self) -> SegmentCache[SegmentSearcher]:
        """The opened segment searchers and id tables, kept across snapshots (a shard ranks its base through it)."""
        return self._segments

    @cached_property
    def encoder(self) -> SparseEncoder:
        return self._given_encoder or self.live.snapshot().base.load_encoder(**{**self.query_options,
                                                                                  "device": self.device})

    def warm_up(self) -> None:
        """Load the encoder (and its model, if any) so that it is not counted in the first query's time."""
        model = getattr(type(self.encoder), "model", None)
        if model is not None:
            _ = self.encoder.model  # type: ignore[attr-defined]

    def encode(self, queries: Sequence[SparseQuery]) -> SparseQueries:
        """Texts (encoded with the index's encoder), {term: weight} maps or CSR rows, weighted for the live
        documents of the latest snapshot."""
        snapshot = self.live.snapshot()
        weighting = self._weighting(snapshot)
        vectors = self._weighted(self._vectors(queries, weighting), weighting)
        vocabulary = weighting.encoder.vocabulary
        labels = [q if isinstance(q, str) else " ".join(vocabulary[t] for t in vectors[i].indices)
                  for i, q in enumerate(queries)]
        return SparseQueries(snapshot, vectors, labels, vocabulary)

    def _weighting(self, snapshot: Snapshot) -> _Weighting:
        """The snapshot's query weighting, made once (by the first thread to search it) and dropped with it."""
        weighting = self._weightings.get(snapshot)
        if weighting is None:
            with self._weighing:
                weighting = self._weightings.get(snapshot)
                if weighting is None:
                    weighting = self._weightings[snapshot] = self._weighting_of(snapshot)
        return weighting

    def _weighting_of(self, snapshot: Snapshot) -> _Weighting:
        encoder = self.encoder
        if uses_corpus_statistics(encoder):
            encoder = weighted_for(encoder, snapshot.statistics)
        idf = None
        if self.query_weighting != "model":
            statistics = snapshot.statistics
            idf = corpus_idf(statistics.doc_freq, statistics.num_docs)
        return _Weighting(encoder, idf)

    def _vectors(self, queries: Sequence[SparseQuery], weighting: _Weighting) -> sp.csr_matrix:
        encoder = weighting.encoder
        texts = [q for q in queries if isinstance(q, str)]
        for text in texts:
            if not text.strip():
                raise LexirError("the query is empty; give at least one word")
        if texts and len(texts) == len(queries):  # the common case: no per-row slicing and stacking
            vectors = encoder.encode_queries(texts)
            if sp.isspmatrix_csr(vectors) and vectors.dtype == np.float32:
                return vectors.copy() if self.query_weighting != "model" else vectors
            return sp.csr_matrix(vectors, dtype=np.float32)
        encoded = iter(encoder.encode_queries(texts) if texts else [])
        rows = [next(encoded) if isinstance(q, str) else self._prepared(q, weighting) for q in queries]
        if not rows:
            return sp.csr_matrix((0, len(encoder.vocabulary)), dtype=np.float32)
        return sp.vstack(rows, format="csr", dtype=np.float32)

    @staticmethod
    def _prepared(query: Mapping[str, float] | sp.csr_matrix, weighting: _Weighting) -> sp.csr_matrix:
        size = len(weighting.encoder.vocabulary)
        if sp.issparse(query):
            if query.shape != (1, size):
                raise LexirError(f"a sparse query must have shape (1, {size}), got {query.shape}")
            return sp.csr_matrix(query, dtype=np.float32)
        if not query:
            raise LexirError("the query is empty; give at least one term")
        if not all(math.isfinite(weight) and weight >= 0 for weight in query.values()):
            raise LexirError("query term weights must be finite and not negative")
        term_ids = weighting.term_ids
        ids = [term_ids[t] for t in query if t in term_ids]
        weights = [float(query[t]) for t in query if t in term_ids]
        return sp.csr_matrix((weights, ids, [0, len(ids)]), shape=(1, size), dtype=np.float32)

    def _weighted(self, vectors: sp.csr_matrix, weighting: _Weighting) -> sp.csr_matrix:
        """Apply the query weighting: the encoder's weights, the live corpus IDF, or their product."""
        if weighting.idf is None:
            return vectors
        idf = weighting.idf[vectors.indices]
        vectors.data = idf if self.query_weighting == "idf" else vectors.data * idf
        return vectors

    def rank(self, queries: SparseQueries, k: int, options: SearchOptions) -> list[Hits]:
        """Top-k of every query over all live documents (segments searched in parallel threads per query)."""
        return self.rank_prepared(queries.snapshot, self.prepare(queries.snapshot, queries.vectors), k, options)

    def rank_one(self, queries: SparseQueries, k: int, options: SearchOptions) -> Hits:
        """Top-k of the first query, single-threaded."""
        vector = queries.vectors if queries.vectors.shape[0] == 1 else queries.vectors[0]
        return self.rank_prepared(queries.snapshot, self.prepare(queries.snapshot, vector), k, options)[0]

    @staticmethod
    def prepare(snapshot: Snapshot, vectors: sp.csr_matrix) -> KernelQueries:
        """Query rows as the kernels take them, made once for every segment (they share the base's quantizer)."""
        return kernel_queries(vectors, snapshot.base.quantizer.bits)

    def rank_prepared(self, snapshot: Snapshot, queries: KernelQueries, k: int, options: SearchOptions
                      ) -> list[Hits]:
        """Top-k of prepared queries over the snapshot's live documents: one query in the calling thread, several
        in parallel threads."""
        single = len(queries.offsets) == 2
        per_segment = {name: ([searcher.rank_one(queries, k + len(snapshot.deleted[name]), options)] if single
                              else searcher.rank(queries, k + len(snapshot.deleted[name]), options))
                       for name, searcher in self._searchers(snapshot).items()}
        return [merged_hits(snapshot, {name: ranked[row] for name, ranked in per_segment.items()}, k, self._segments)
                for row in range(len(queries.offsets) - 1)]

    def _searchers(self, snapshot: Snapshot) -> dict[str, SegmentSearcher]:
        return {name: self._segments.searcher(snapshot, name) for name, index in snapshot.segments.items()
                if index.num_docs > 0}

    def explain(self, queries: SparseQueries, row: int, hits: Hits, options: SearchOptions
                ) -> list[dict[str, float]]:
        """Each hit's per-term contributions (only the terms that were scored)."""
        vector = queries.vectors[row]
        return [self._segments.searcher(queries.snapshot, str(name)).explain(vector, int(num), options,
                                                                             queries.vocabulary)
                for name, num in zip(hits.segments, hits.nums)]

    def documents(self, snapshot: Snapshot, hits: Hits) -> list[Document]:
        return [snapshot.segments[str(name)].docstore.documents([int(num)])[0]
                for name, num in zip(hits.segments, hits.nums)]

    def query_figures(self, queries: SparseQueries, row: int) -> tuple[int, int]:
        """(nonzero query terms, postings their lists hold over all segments) of one encoded query."""
        vector = queries.vectors[row]
        terms = vector.indices[vector.data > 0].astype(np.int64)
        touched = sum(int(np.asarray(index.doc_freq)[terms].sum()) for index in queries.snapshot.segments.values())
        return int(terms.size), touched
