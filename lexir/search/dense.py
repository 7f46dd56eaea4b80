"""Dense retrieval over a live index: every segment's dense side (FAISS) searched with one query vector.

The query is encoded with the dense side's own encoder (`dense.json` of the base index); each segment that
has a dense side (`DIR/dense`, `DIR/segments/NNNNNN/dense`) is asked for k plus its tombstones, deleted
documents are dropped, and the lists merge by score (ties: the older segment, then the lower number). Scores
are inner products (cosine for normalized encoders such as MiniLM).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lexir.corpus import Document
from lexir.encoders.base import EncoderSpec
from lexir.encoders.dense import DenseEncoder
from lexir.encoders.registry import check_same_encoder, dense_encoder_from_spec
from lexir.errors import LexirError
from lexir.index.dense import DenseIndex, has_dense, read_dense_manifest
from lexir.index.live import BASE, LiveIndex, Snapshot
from lexir.index.reader import InvertedIndex
from lexir.search.options import SearchOptions
from lexir.search.results import Hits, RankedNums, clamp_k
from lexir.search.segments import SegmentCache, merged_hits


@dataclass(frozen=True)
class DenseQueries:
    """Query vectors [queries, dim] and the snapshot ranking must search."""

    snapshot: Snapshot
    vectors: np.ndarray
    labels: list[str]


class DenseSegment:
    """The dense side of one segment; a segment without one (added before the index had a dense side)
    contributes no hits."""

    def __init__(self, index: InvertedIndex) -> None:
        self.index = index
        self.dense = DenseIndex(index.path, index.docstore) if has_dense(index.path) else None

    def rank(self, vectors: np.ndarray, k: int) -> list[RankedNums]:
        if self.dense is None:
            return [RankedNums(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)) for _ in vectors]
        scores, nums = self.dense.search(vectors, clamp_k(k, self.index.num_docs))
        return [RankedNums(row_nums[row_nums >= 0].astype(np.int64), row_scores[row_nums >= 0])
                for row_nums, row_scores in zip(nums, scores)]


class DenseRetriever:
    """A live index's dense sides searched as one.

    Args:
        live: the live index; its base must have a dense side (`lexir index add-dense`).
        encoder: an already loaded dense encoder to reuse; it must match the dense side's spec.
        device: where the dense encoder's model runs (lexir.encoders.device).
    """

    kind = "dense"

    def __init__(self, live: LiveIndex, encoder: DenseEncoder | None = None, device: str | None = None) -> None:
        self.live = live
        self.device = device
        self.manifest = read_dense_manifest(live.path)  # a clear error when the index has no dense side
        if encoder is not None:
            check_same_encoder(self.manifest.encoder, encoder.spec)
        self._given_encoder = encoder
        self._segments = SegmentCache(DenseSegment)
        self.segment(BASE)  # open the base's dense side now: a side built for other documents is refused at once

    @property
    def spec(self) -> EncoderSpec:
        return self.manifest.encoder

    @cached_property
    def encoder(self) -> DenseEncoder:
        if self._given_encoder is not None:
            return self._given_encoder
        encoder = dense_encoder_from_spec(self.manifest.encoder, device=self.device)
        check_same_encoder(self.manifest.encoder, encoder.spec)
        return encoder

    def warm_up(self) -> None:
        """Load the encoder's model so that it is not counted in the first query's time."""
        _ = self.encoder.model

    def encode(self, queries: Sequence[object]) -> DenseQueries:
        for query in queries:
            if not isinstance(query, str) or not query.strip():
                raise LexirError("the query is empty; give at least one word (dense search takes text queries)")
        snapshot = self.live.snapshot()
        return DenseQueries(snapshot, self.encoder.encode_queries(list(queries)), list(queries))

    def rank(self, queries: DenseQueries, k: int, options: SearchOptions) -> list[Hits]:
        """Top-k of every query vector (one FAISS call per segment)."""
        snapshot = queries.snapshot
        per_segment = {name: self._segments.searcher(snapshot, name).rank(queries.vectors,
                                                                           k + len(snapshot.deleted[name]))
                       for name in snapshot.segments}
        return [merged_hits(snapshot, {name: ranked[row] for name, ranked in per_segment.items()}, k, self._segments)
                for row in range(len(queries.vectors))]

    def rank_one(self, queries: DenseQueries, k: int, options: SearchOptions) -> Hits:
        return self.rank(DenseQueries(queries.snapshot, queries.vectors[:1], queries.labels[:1]), k, options)[0]

    def segment(self, name: str) -> DenseSegment:
        """The dense side of one segment of the latest snapshot ("" is the base index)."""
        return self._segments.searcher(self.live.snapshot(), name)

    def embeddings(self, snapshot: Snapshot, hits: Hits) -> np.ndarray:
        """The hits' stored embeddings [len(hits), dim], read back from FAISS (for dense feedback)."""
        rows = []
        for name, num in zip(hits.segments, hits.nums):
            dense = self._segments.searcher(snapshot, str(name)).dense
            try:
                rows.append(np.asarray(dense.faiss_index.reconstruct(int(num)), dtype=np.float32))
            except RuntimeError:
                raise LexirError(f"this dense side's FAISS index ({dense.manifest.faiss_type.kind}) cannot give its "
                                 "vectors back, which dense feedback needs; use a flat or hnsw dense side, or no "
                                 "dense feedback") from None
        return np.stack(rows) if rows else np.zeros((0, self.manifest.dim), dtype=np.float32)

    def documents(self, snapshot: Snapshot, hits: Hits) -> list[Document]:
        return [snapshot.segments[str(name)].docstore.documents([int(num)])[0]
                for name, num in zip(hits.segments, hits.nums)]
