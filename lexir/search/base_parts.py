"""Local shards ranked as the parts of one index, in one kernel call: the common case of sharded search.

When every shard of a sharded index is opened in this process and holds nothing but its base (no live segment,
nothing deleted), a query needs no per-shard search: the shards' base postings go to the kernels together
(`dispatch.top_k_parts`), which rank each part and keep the best k by score, then by global ordinal, as the
per-shard lists merged would (a batch: its queries split among threads, `top_k_parts_rows`). What that saves is
the Python between the kernels: per shard, the query checks, the call into numba, the hit conversion and id
lookup, and then the merge of the lists (docs/benchmarks.md, "Sharded search latency"). Anything else (a live
segment or a tombstone in any shard, words appended by live writes, approximate query cuts, remote shards, one
large query searched in threads) takes the general path of search/sharded.py, with the same hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from lexir.encoders.base import CorpusStatistics
from lexir.index.live import BASE, Snapshot
from lexir.search.algorithms import ALGORITHMS
from lexir.search.algorithms.dispatch import (
    DEFAULT_WINDOW,
    KernelQueries,
    check_terms,
    damaged,
    top_k_parts,
    top_k_parts_rows,
)
from lexir.search.algorithms.postings import PostingArrays
from lexir.search.options import SearchOptions
from lexir.search.results import Hits, clamp_k
from lexir.search.segment import SegmentSearcher
from lexir.search.segments import SegmentCache
from lexir.search.shard import LocalShard, Shard


@dataclass(frozen=True)
class BaseParts:
    """The base segments of local shards, each at the commit whose statistics weighed the queries."""

    names: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]
    caches: tuple[SegmentCache[SegmentSearcher], ...]  # each shard's searchers and id tables
    searchers: tuple[SegmentSearcher, ...]
    postings: tuple[PostingArrays, ...]
    ordinals: tuple[np.ndarray, ...]
    num_docs: int

    @classmethod
    def of(cls, shards: Sequence[Shard], statistics: Sequence[CorpusStatistics]) -> BaseParts | None:
        """The shards as parts of one ranking, or None unless each is local, at the commit of `statistics` (the
        ones the queries were weighted with) and its base alone, and all share one vocabulary, impact grid and
        array types (one compiled kernel takes them all)."""
        if not shards or not all(isinstance(shard, LocalShard) for shard in shards):
            return None
        local: list[LocalShard] = list(shards)  # type: ignore[arg-type]
        snapshots = tuple(shard.weighed_snapshot() for shard in local)
        if any(snapshot.statistics is not part or len(snapshot.segments) != 1 or len(snapshot.deleted[BASE])
               for snapshot, part in zip(snapshots, statistics)):
            return None  # a live segment, a tombstone, or a commit since the statistics: the general path
        caches = tuple(shard.segment_cache for shard in local)
        searchers = tuple(cache.searcher(snapshot, BASE) for cache, snapshot in zip(caches, snapshots))
        first = searchers[0].index
        if any(searcher.index.num_terms != first.num_terms or searcher.index.quantizer != first.quantizer
               or searcher.index.num_docs == 0 for searcher in searchers):
            return None
        postings = tuple(searcher.postings for searcher in searchers)
        ordinals = tuple(shard.ordinals for shard in local)
        if len({numba.typeof(one) for one in postings}) > 1 or len({numba.typeof(one) for one in ordinals}) > 1:
            return None
        return cls(tuple(shard.name for shard in local), snapshots, caches, searchers, postings, ordinals,
                   sum(searcher.index.num_docs for searcher in searchers))

    def rank_one(self, queries: KernelQueries, k: int, options: SearchOptions, missing: tuple[str, ...] = ()
                 ) -> Hits:
        """Top k of the first query over every part (its exact grid weights prepared once for the whole index):
        `segments` name each hit's shard and `nums` hold ordinals, as merged shard lists do."""
        check_terms(self.postings[0], queries, self.searchers[0].index.path)
        span = slice(queries.offsets[0], queries.offsets[1])
        parts, nums, scores, ordinals = top_k_parts(ALGORITHMS[options.algorithm], self.postings, self.ordinals,
                                                    queries.terms[span], queries.weights[span],
                                                    clamp_k(k, self.num_docs), options.heap_factor, DEFAULT_WINDOW)
        return self._hits(parts, nums, scores, ordinals, missing)

    def rank(self, queries: KernelQueries, k: int, options: SearchOptions, missing: tuple[str, ...] = ()
             ) -> list[Hits]:
        """Top k of every query, the queries split among numba's threads (each query over every part)."""
        check_terms(self.postings[0], queries, self.searchers[0].index.path)
        num_queries, k = len(queries.offsets) - 1, clamp_k(k, self.num_docs)
        parts = np.full((num_queries, k), -1, dtype=np.int64)
        nums, ordinals = np.zeros((num_queries, k), dtype=np.int64), np.zeros((num_queries, k), dtype=np.int64)
        scores, counts = np.zeros((num_queries, k), dtype=np.float64), np.zeros(num_queries, dtype=np.int64)
        code = ALGORITHMS[options.algorithm]

        def rows(span: tuple[int, int]) -> None:
            top_k_parts_rows(code, self.postings, self.ordinals, queries, span[0], span[1], k, options.heap_factor,
                             DEFAULT_WINDOW, parts, nums, scores, ordinals, counts)

        bounds = np.linspace(0, num_queries, min(numba.get_num_threads(), max(num_queries, 1)) + 1).astype(int)
        spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        with ThreadPoolExecutor(max_workers=len(spans)) as pool:
            list(pool.map(rows, spans))
        return [self._hits(parts[row, :count], nums[row, :count], scores[row, :count], ordinals[row, :count],
                           missing) for row, count in enumerate(counts.tolist())]

    def _hits(self, parts: np.ndarray, nums: np.ndarray, scores: np.ndarray, ordinals: np.ndarray,
              missing: tuple[str, ...]) -> Hits:
        """One query's kernel output as Hits: ids read from each hit's shard, scores in the encoder's units."""
        if parts.shape[0] == 1 and parts[0] < 0:
            part = -1 - int(parts[0])
            raise damaged(self.postings[part], self.searchers[part].index.path)
        keys = np.empty(len(nums), dtype=object)
        for part in np.unique(parts):
            chosen = parts == part
            keys[chosen] = self.caches[part].ids(self.snapshots[part], BASE, nums[chosen])
        shards = np.array(self.names, dtype=object)[parts]
        scale = self.searchers[0].index.quantizer.scale
        return Hits(keys.astype(str), (scores * scale).astype(np.float32), shards, ordinals, missing)
