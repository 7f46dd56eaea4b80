"""One shard of a sharded index, as the coordinator (search/sharded.py) sees it: the `Shard` protocol, and
`LocalShard`, a shard directory opened in this process (a LiveIndex: live updates included).

A shard ranks queries that are ALREADY ENCODED and weighted with the whole index's statistics, and prepared for
the kernels (KernelQueries: term ids over the shard's vocabulary, exact grid weights), so that every shard scores
like one index would; it returns its hits with their external ids and global ordinals (the key that breaks score
ties across shards as one index's document numbers do). Another implementation (e.g. over Ray Serve handles) only
has to keep these promises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from lexir.corpus import Document
from lexir.encoders.base import CorpusStatistics
from lexir.errors import LexirError
from lexir.files import folder_bytes
from lexir.index.dense import has_dense
from lexir.index.live import BASE, LiveIndex, Snapshot
from lexir.index.reader import InvertedIndex
from lexir.search.algorithms.dispatch import KernelQueries
from lexir.search.dense import DenseQueries, DenseRetriever
from lexir.search.options import SearchOptions
from lexir.search.results import Hits
from lexir.search.segment import SegmentSearcher
from lexir.search.segments import SegmentCache
from lexir.search.sparse import SparseQueries, SparseRetriever

ADDED_SHIFT = 32  # a live-added document's ordinal: (its segment's generation << 32) + its number there


class ShardUnavailableError(LexirError):
    """A shard that cannot be opened or did not answer; the message names it (the API answers 503)."""

    def __init__(self, shards: Sequence[str], reason: str) -> None:
        self.shards = tuple(shards)
        self.reason = reason
        label = "shard" if len(self.shards) == 1 else "shards"
        super().__init__(f"{label} {', '.join(self.shards)} unavailable: {reason}")


class StaleShardStatistics(LexirError):
    """A shard whose commit is no longer the one whose statistics the queries were weighted with (it ranked nothing):
    the coordinator weighs them again with the shard's new statistics (`statistics()` now gives them)."""

    def __init__(self, shards: Sequence[str]) -> None:
        self.shards = tuple(shards)
        super().__init__(f"shard {', '.join(self.shards)} changed while the query was ranked; search again")


@dataclass(frozen=True)
class ShardHits:
    """One shard's top hits of one query, best first (score descending, then ordinal ascending)."""

    ids: np.ndarray  # external ids (str)
    scores: np.ndarray  # float32, in the encoder's units
    ordinals: np.ndarray  # int64: the base documents' input positions; live-added ones after every base one

    def __len__(self) -> int:
        return int(self.ids.size)


class Shard(Protocol):
    """What the coordinator asks of a shard. Errors that mean the shard is down are ShardUnavailableError."""

    name: str

    def statistics(self) -> CorpusStatistics:
        """The shard's live corpus statistics; the same object while nothing changed (the coordinator caches the
        merged weighting by the identity of every shard's statistics)."""
        ...

    def rank_encoded(self, queries: KernelQueries, k: int, options: SearchOptions) -> list[ShardHits]:
        """Top-k of each of `queries` (weighted query rows over this shard's vocabulary, the build's terms then its
        `statistics().added_terms`, prepared once for every shard by `kernel_queries`); one query is ranked in the
        calling thread. Ranked on the commit of the statistics the shard last gave, or StaleShardStatistics."""
        ...

    def rank_dense(self, embeddings: np.ndarray, k: int) -> list[ShardHits]:
        """Top-k of each query embedding [queries, dim] over the shard's dense side."""
        ...

    def explain(self, vector: sp.csr_matrix, doc_ids: Sequence[str], options: SearchOptions,
                vocabulary: Sequence[str]) -> list[dict[str, float]]:
        """Per document, its score's part per query term (`vector`: one row as rank_encoded takes them)."""
        ...

    def documents(self, doc_ids: Sequence[str]) -> list[Document]:
        """Stored documents of live ids of this shard (DocumentNotFoundError for an id it does not hold)."""
        ...

    def add(self, documents: Sequence[Document]) -> int:
        """Add (or replace) documents this shard owns; returns its commit generation once durable."""
        ...

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Tombstone live ids of this shard (DocumentNotFoundError, nothing written, for one it lacks)."""
        ...

    def stats(self) -> dict[str, object]:
        """The shard's figures, as `index_stats` gives them."""
        ...

    def check(self) -> None:
        """Raise ShardUnavailableError unless the shard answers (health checks)."""
        ...

    def segments(self) -> Mapping[str, InvertedIndex]:
        """The shard's opened segments when they live in this process (sizes, nonzero figures), else {}."""
        ...

    def close(self) -> None: ...


def index_stats(live: LiveIndex) -> dict[str, object]:
    """The figures /stats reports for one live index directory."""
    snapshot = live.snapshot()
    return {
        "documents": snapshot.num_docs, "terms": snapshot.base.num_terms,
        "postings": sum(index.manifest.num_postings for index in snapshot.segments.values()),
        "segments": len(snapshot.segments),
        "deleted": sum(len(nums) for nums in snapshot.deleted.values()),
        "bytes": folder_bytes(live.path),
        "generation": snapshot.commit.generation, "encoder": snapshot.base.manifest.encoder.to_dict(),
        "dense": has_dense(live.path),
    }


class LocalShard:
    """A shard directory opened in this process.

    Args:
        path: the shard's index directory.
        ordinals: input positions of its base documents (index/sharded.py's ordinals file).
        max_segments: the LiveIndex merge policy (None: its default).
        device: where the encoders of added documents run their models.
    """

    def __init__(self, path: Path, ordinals: np.ndarray, max_segments: int | None = None,
                 device: str | None = None) -> None:
        self.name = path.name
        self.live = LiveIndex(path, max_segments=max_segments, device=device)
        if len(ordinals) != self.live.snapshot().base.num_docs:
            raise LexirError(f"{path}: {len(ordinals)} ordinals for {self.live.snapshot().base.num_docs} documents")
        self.ordinals = np.asarray(ordinals)  # an ndarray view of the mapped file: indexing it skips memmap's wrapping
        self._sparse = SparseRetriever(self.live)
        self._weighed: Snapshot | None = None

    @cached_property
    def _dense(self) -> DenseRetriever:
        return DenseRetriever(self.live)

    def statistics(self) -> CorpusStatistics:
        self._weighed = self.live.snapshot()
        return self._weighed.statistics

    def weighed_snapshot(self) -> Snapshot:
        """The snapshot whose statistics the coordinator last read (it asks for them before each ranking, so
        that a query is ranked on the commit it was weighted for); the latest one before that."""
        return self._weighed if self._weighed is not None else self.live.snapshot()

    @property
    def segment_cache(self) -> SegmentCache[SegmentSearcher]:
        """The shard's opened segment searchers and id tables (base_parts.py ranks its base through them)."""
        return self._sparse.segment_cache

    def rank_encoded(self, queries: KernelQueries, k: int, options: SearchOptions) -> list[ShardHits]:
        snapshot = self.weighed_snapshot()
        if len(queries.offsets) == 2 and len(snapshot.segments) == 1 and not len(snapshot.deleted[BASE]):
            return [self._base_hits(snapshot, queries, k, options)]
        return [self._shard_hits(snapshot, hits) for hits in self._sparse.rank_prepared(snapshot, queries, k, options)]

    def _base_hits(self, snapshot: Snapshot, queries: KernelQueries, k: int, options: SearchOptions) -> ShardHits:
        """One query on a shard that is its base alone, nothing deleted (the common case): the base segment's
        top k as they are, without the live merge that `rank_encoded` otherwise does (measured: a third of a
        shard's per-query overhead on 100k BM25 documents)."""
        segments = self.segment_cache
        ranked = segments.searcher(snapshot, BASE).rank_one(queries, k, options)
        return ShardHits(segments.ids(snapshot, BASE, ranked.nums), ranked.scores, self.ordinals[ranked.nums])

    def rank_dense(self, embeddings: np.ndarray, k: int) -> list[ShardHits]:
        queries = DenseQueries(self.weighed_snapshot(), embeddings, [""] * len(embeddings))
        return [self._shard_hits(queries.snapshot, hits)
                for hits in self._dense.rank(queries, k, SearchOptions(mode="dense"))]

    def _shard_hits(self, snapshot: Snapshot, hits: Hits) -> ShardHits:
        """`hits` with the global ordinals of their documents."""
        nums = np.asarray(hits.nums, dtype=np.int64)
        if len(snapshot.segments) == 1:  # the base alone
            ordinals = self.ordinals[nums]
        else:
            base = hits.segments == BASE
            generations = np.array([int(segment or 0) for segment in hits.segments], dtype=np.int64)
            ordinals = np.where(base, 0, (generations << ADDED_SHIFT) + nums)
            ordinals[base] = self.ordinals[nums[base]]
        return ShardHits(np.asarray(hits.keys, dtype=str), np.asarray(hits.scores, dtype=np.float32), ordinals)

    def explain(self, vector: sp.csr_matrix, doc_ids: Sequence[str], options: SearchOptions,
                vocabulary: Sequence[str]) -> list[dict[str, float]]:
        snapshot = self.live.snapshot()
        places = [snapshot.find(doc_id) for doc_id in doc_ids]
        missing = [doc_id for doc_id, place in zip(doc_ids, places) if place is None]
        if missing:
            raise LexirError(f"shard {self.name} holds no live document '{missing[0]}' to explain")
        hits = Hits(np.asarray(doc_ids, dtype=str), np.zeros(len(doc_ids), dtype=np.float32),
                    np.array([place[0] for place in places], dtype=object),  # type: ignore[index]
                    np.array([place[1] for place in places], dtype=np.int64))  # type: ignore[index]
        queries = SparseQueries(snapshot, vector, [""], vocabulary)
        return self._sparse.explain(queries, 0, hits, options)

    def documents(self, doc_ids: Sequence[str]) -> list[Document]:
        snapshot = self.live.snapshot()
        return [snapshot.document(doc_id) for doc_id in doc_ids]

    def add(self, documents: Sequence[Document]) -> int:
        return self.live.add(documents).generation

    def delete(self, doc_ids: Sequence[str]) -> int:
        return self.live.delete(doc_ids).generation

    def stats(self) -> dict[str, object]:
        return index_stats(self.live)

    def check(self) -> None:
        if not self.live.path.is_dir():
            raise ShardUnavailableError([self.name], f"its folder {self.live.path} is gone")
        self.live.snapshot()

    def segments(self) -> Mapping[str, InvertedIndex]:
        return self.live.snapshot().segments

    def close(self) -> None:
        self.live.snapshot().close()
