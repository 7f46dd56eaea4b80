"""What the REST API does, without HTTP: searches in every mode, document writes, statistics.

Every mode searches through the one front door (lexir.search.searcher) over the served LiveIndex, so added
documents and tombstones are seen by sparse, dense and hybrid search alike. The index's sparse and dense
retrievers (their query encoders and models, their segment caches) are opened once and shared by every mode and
feedback setting: a request's mode and feedback make a light Searcher over them (`searcher_over`, the last
MAX_SEARCHERS kept), and its ranking options (algorithm, pruning, fusion) reuse that one (`Searcher.using`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from lexir.corpus import Document
from lexir.index.live import LiveIndex
from lexir.index.sharded import is_sharded
from lexir.index.sharded_ops import has_dense_side
from lexir.search import Searcher, SearchOptions, SearchResult
from lexir.search.searcher import Retriever, open_retrievers, searcher_over
from lexir.search.shard import Shard, ShardUnavailableError, index_stats
from lexir.search.sharded import ShardedIndex

logger = logging.getLogger(__name__)

# Searchers kept per (mode, feedback settings): a request may name any feedback weight, and each Searcher keeps its
# feedback caches (the retrievers under them are shared), so the least recently used ones beyond this are dropped.
MAX_SEARCHERS = 32


class SearchService:
    """One index directory served: a LiveIndex (or, for a sharded index, a ShardedIndex that routes writes to
    the owning shard) for writes, and one Searcher per search mode.

    `allow_partial` and `shards` (Shard objects in place of the local ones) apply to sharded indexes only.
    `device` is where models encode queries and added documents (cpu by default).
    """

    def __init__(self, path: Path | str, max_segments: int | None = None, *, allow_partial: bool = False,
                 shards: Sequence[Shard] | None = None, device: str | None = None) -> None:
        self.path = Path(path)
        self.device = device
        self.live: LiveIndex | ShardedIndex
        if is_sharded(self.path):
            self.live = ShardedIndex(self.path, shards, allow_partial=allow_partial, max_segments=max_segments,
                                     device=device)
        else:
            self.live = LiveIndex(self.path, max_segments=max_segments, device=device)
        self._sides: dict[str, Retriever] = {}  # "sparse" / "dense": opened once, shared by every Searcher
        self._searchers: OrderedDict[tuple[object, ...], Searcher] = OrderedDict()
        self._opening = threading.Lock()

    @property
    def has_dense(self) -> bool:
        return has_dense_side(self.path)

    def searcher(self, options: SearchOptions) -> Searcher:
        """The Searcher of the mode and feedback settings (made on first use over the shared retrievers),
        searching with the ranking options of `options`."""
        key = (options.mode, options.prf, options.dense_prf)
        with self._opening:
            opened = self._searchers.get(key)
            if opened is None:
                sides = ("sparse", "dense") if options.mode == "hybrid" else (options.mode,)
                opened = self._searchers[key] = searcher_over(
                    {side: self._side(side) for side in sides},
                    SearchOptions(mode=options.mode, prf=options.prf, dense_prf=options.dense_prf))
                if len(self._searchers) > MAX_SEARCHERS:
                    self._searchers.popitem(last=False)
            else:
                self._searchers.move_to_end(key)
        return opened.using(options)

    def _side(self, side: str) -> Retriever:
        """The index's sparse or dense retriever, opened on first use (a clear error where there is no such side);
        called under `_opening`."""
        if side not in self._sides:
            self._sides[side] = open_retrievers(self.live, SearchOptions(mode=side), device=self.device)[side]
        return self._sides[side]

    def warm_up(self) -> None:
        """Load models and compile kernels before the first request (not during it)."""
        modes = ("sparse", "dense", "hybrid") if self.has_dense else ("sparse",)
        try:
            for mode in modes:
                self.searcher(SearchOptions(mode=mode)).search_batch(["warm up"], k=1)
        except ShardUnavailableError as error:  # the server starts all the same: /healthz and searches say 503
            logger.warning("warming up %s: %s", self.path.name, error)

    def search(self, queries: list[str], k: int, options: SearchOptions, explain: bool, text: bool
               ) -> list[SearchResult]:
        """One query in the calling thread (concurrent requests run side by side, each on one core: a parallel
        launch per request costs more than the search itself), a batch with parallel scoring."""
        searcher = self.searcher(options)
        if len(queries) == 1:
            return [searcher.search(queries[0], k, explain=explain, with_text=text)]
        return searcher.search_batch(queries, k, explain=explain, with_text=text)

    def document(self, doc_id: str) -> Document:
        if isinstance(self.live, ShardedIndex):
            return self.live.document(doc_id)
        return self.live.snapshot().document(doc_id)

    def add(self, documents: list[Document]) -> int:
        return self.live.add(documents).generation

    def delete(self, doc_id: str) -> int:
        return self.live.delete([doc_id]).generation

    def stats(self) -> dict[str, object]:
        return self.live.stats() if isinstance(self.live, ShardedIndex) else index_stats(self.live)

    def down_shards(self) -> list[str]:
        """The shards of a sharded index that do not answer (always empty for one index)."""
        return self.live.check() if isinstance(self.live, ShardedIndex) else []
