"""Search through several retrievers at once: sparse and dense sides, of one or more index directories.

Each retriever returns its top `depth` hits (default max(k, 100)) as document numbers of its
own index; they become external ids, so lists from different index directories can be fused;
`fusion.fuse` merges the lists and the best k are kept. With a single retriever its own list
and scores are returned unchanged, so `--mode dense` is plain dense search.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lexir.errors import LexirError
from lexir.index.reader import InvertedIndex
from lexir.search.dense import DenseSearcher
from lexir.search.fusion import DEFAULT_FUSION_DEPTH, FusedRanking, Fusion, Ranking, fuse
from lexir.search.searcher import Hit, RankedNums, Searcher, SearchResult, clamp_k

MODES = ("sparse", "dense", "hybrid")


@dataclass(frozen=True)
class RetrievedList(Ranking):
    """A retriever's Ranking that also keeps the document numbers of its own index."""

    nums: np.ndarray


class Retriever(Protocol):
    """What HybridSearcher needs of a searcher (Searcher and DenseSearcher both are one)."""

    index: InvertedIndex

    def warm_up(self) -> None: ...

    def encode(self, queries: Sequence[str]) -> Any: ...

    def rank(self, encoded: Any, k: int) -> list[RankedNums]: ...

    def rank_one(self, encoded: Any, k: int) -> RankedNums: ...


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise LexirError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")


def open_retrievers(indexes: Sequence[Path | str], mode: str, *, query_weighting: str = "model",
                    query_options: dict[str, object] | None = None) -> dict[str, Retriever]:
    """The retrievers of `mode` for each index directory, in order, labelled `sparse` / `dense` (with one index)
    or `DIR:sparse` / `DIR:dense` (with several).

    `hybrid` gives each directory's sparse retriever, then its dense one; `query_weighting` and
    `query_options` go to the sparse retrievers.
    """
    check_mode(mode)
    if not indexes:
        raise LexirError("give at least one index directory")
    retrievers: dict[str, Retriever] = {}
    seen: set[Path] = set()
    for path in indexes:
        if Path(path).resolve() in seen:
            raise LexirError(f"the index {path} is given twice")
        seen.add(Path(path).resolve())
        index = InvertedIndex(path)
        prefix = f"{path}:" if len(indexes) > 1 else ""
        if mode in ("sparse", "hybrid"):
            retrievers[f"{prefix}sparse"] = Searcher(index, query_weighting=query_weighting,
                                                     query_options=query_options)
        if mode in ("dense", "hybrid"):
            retrievers[f"{prefix}dense"] = DenseSearcher(index)
    return retrievers


class HybridSearcher:
    """Runs every retriever and fuses their lists (RRF or a convex combination, see fusion.py).

    Args:
        retrievers: label -> retriever, in the order the fusion weights refer to.
        fusion: how to fuse (default: RRF with equal weights); must be None with a single retriever.
        depth: hits taken from each retriever before fusing (at least k).
    """

    def __init__(self, retrievers: dict[str, Retriever], fusion: Fusion | None = None, *,
                 depth: int = DEFAULT_FUSION_DEPTH) -> None:
        if not retrievers:
            raise LexirError("give at least one retriever")
        if len(retrievers) == 1 and fusion is not None:
            raise LexirError("fusion needs two or more retrievers: use --mode hybrid, or give several indexes")
        if depth < 1:
            raise LexirError(f"the fusion depth must be at least 1 hit per retriever, got {depth}")
        self.retrievers = dict(retrievers)
        self.fusion = fusion if fusion is not None or len(retrievers) == 1 else Fusion()
        if self.fusion is not None:
            self.fusion.weights_for(len(retrievers))  # one weight per retriever, checked now
        self.depth = depth

    @property
    def labels(self) -> list[str]:
        return list(self.retrievers)

    def warm_up(self) -> None:
        for retriever in self.retrievers.values():
            retriever.warm_up()

    def ranked_lists(self, queries: Sequence[str], k: int) -> list[list[RetrievedList]]:
        """Per query, each retriever's hits (keyed by document id), batched per retriever."""
        self._check_queries(queries)
        depth = self._list_depth(k)
        per_retriever = []
        for retriever in self.retrievers.values():
            ranked = retriever.rank(retriever.encode(queries), depth)
            per_retriever.append([self._ranking(retriever, one) for one in ranked])
        return [list(lists) for lists in zip(*per_retriever)]

    def ranked_lists_one(self, query: str, k: int) -> list[RetrievedList]:
        """One query's lists, each retriever searched single-threaded (for latency)."""
        self._check_queries([query])
        depth = self._list_depth(k)
        return [self._ranking(retriever, retriever.rank_one(retriever.encode([query]), depth))
                for retriever in self.retrievers.values()]

    def combine(self, lists: Sequence[Ranking], k: int, fusion: Fusion | None = None) -> FusedRanking:
        """One query's best k: its single list as is, or the lists fused (with `fusion`, default this one's)."""
        fusion = fusion or self.fusion
        if fusion is None:
            scores = np.asarray(lists[0].scores, dtype=np.float64)[:k]
            return FusedRanking(np.asarray(lists[0].keys)[:k], scores, scores[:, None])
        return fuse(lists, fusion, k)

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[FusedRanking]:
        """The fused best k of many queries."""
        return [self.combine(lists, k) for lists in self.ranked_lists(queries, k)]

    def search_one(self, query: str, k: int = 10) -> FusedRanking:
        return self.combine(self.ranked_lists_one(query, k), k)

    def search(self, query: str, k: int = 10, *, explain: bool = False, with_text: bool = False) -> SearchResult:
        """One query as Hits; `explain` gives each retriever's share of every fused score."""
        self.warm_up()
        started = time.perf_counter()
        lists = self.ranked_lists_one(query, k)
        fused = self.combine(lists, k)
        found_in: dict[str, tuple[str, int]] = {}  # id -> (first retriever that found it, its number there)
        for label, retrieved in zip(self.labels, lists):
            for key, num in zip(retrieved.keys, retrieved.nums):
                found_in.setdefault(str(key), (label, int(num)))
        hits = []
        for rank, (key, score, parts) in enumerate(zip(fused.keys, fused.scores, fused.parts), start=1):
            label, num = found_in[str(key)]
            hit = Hit(id=str(key), score=float(score), rank=rank, num=num)
            if with_text:
                document = self.retrievers[label].index.docstore.documents([num])[0]
                hit.title, hit.text = document.title, document.text
            if explain:
                hit.contributions = {name: float(part) for name, part in zip(self.labels, parts)}
            hits.append(hit)
        return SearchResult(query, hits, (time.perf_counter() - started) * 1000)

    def _list_depth(self, k: int) -> int:
        k = clamp_k(k, max(retriever.index.num_docs for retriever in self.retrievers.values()))
        return k if len(self.retrievers) == 1 else max(k, self.depth)

    @staticmethod
    def _check_queries(queries: Sequence[str]) -> None:
        for query in queries:
            if not isinstance(query, str) or not query.strip():
                raise LexirError("the query is empty; give at least one word")

    @staticmethod
    def _ranking(retriever: Retriever, ranked: RankedNums) -> RetrievedList:
        ids = np.asarray(retriever.index.docstore.ids(ranked.nums), dtype=str)
        return RetrievedList(ids, np.asarray(ranked.scores, dtype=np.float64), np.asarray(ranked.nums))
