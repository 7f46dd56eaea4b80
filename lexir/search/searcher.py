"""The one front door into search: `open_search(indexes, options)` gives a Searcher for sparse, dense, hybrid
and multi-index fusion alike, over every live segment and tombstone of each index.

A Searcher holds one or more retrievers (search/sparse.py, search/dense.py): one index in `sparse` or
`dense` mode is one retriever, `hybrid` gives each index its sparse and its dense retriever, and several
indexes give one retriever per index and side. With one retriever its own list and scores are returned;
with several, each retriever's top `max(k, fusion_depth)` hits (by external id) are fused (search/fusion.py)
and the best k kept. The CLI (`lexir search`), the API and `lexir eval` all search through this class.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lexir.corpus import Document
from lexir.encoders.base import EncoderSpec, SparseEncoder
from lexir.encoders.dense import DenseEncoder
from lexir.errors import LexirError
from lexir.files import folder_bytes
from lexir.index.dense import DENSE_DIR
from lexir.index.live import LiveIndex, Snapshot
from lexir.search.dense import DenseRetriever
from lexir.search.feedback import FeedbackRetriever
from lexir.search.fusion import FusedRanking, Fusion, Ranking, fuse
from lexir.search.options import SearchOptions
from lexir.search.results import Hit, Hits, SearchResult, check_k
from lexir.search.sharded import ShardedDenseRetriever, ShardedIndex, ShardedSparseRetriever, open_index
from lexir.search.sparse import SparseQuery, SparseRetriever

IndexRef = str | Path | LiveIndex | ShardedIndex


class Retriever(Protocol):
    """One ranked list per query from one side of one index (SparseRetriever, DenseRetriever)."""

    kind: str
    live: LiveIndex

    @property
    def spec(self) -> EncoderSpec: ...

    def warm_up(self) -> None: ...

    def encode(self, queries: Sequence[Any]) -> Any: ...

    def rank(self, queries: Any, k: int, options: SearchOptions) -> list[Hits]: ...

    def rank_one(self, queries: Any, k: int, options: SearchOptions) -> Hits: ...

    def documents(self, snapshot: Snapshot, hits: Hits) -> list[Document]: ...


def open_search(indexes: IndexRef | Sequence[IndexRef], options: SearchOptions | None = None, *,
                encoder: SparseEncoder | None = None, dense_encoder: DenseEncoder | None = None,
                device: str | None = None) -> Searcher:
    """A Searcher over the index directories (or open LiveIndexes) `indexes`, searched as `options` say.

    Retrievers are labelled `sparse` / `dense` with one index, `DIR:sparse` / `DIR:dense` with several, in the
    order fusion weights refer to (each index's sparse side, then its dense side). `encoder` / `dense_encoder`
    reuse already loaded query encoders; they must match the indexes' specs. `device` is where the query
    encoders the indexes name run their models (cpu by default; encoders without a model ignore it); a GPU this
    machine lacks is refused here, before any index is opened.
    """
    options = options or SearchOptions()
    retrievers = open_retrievers(indexes, options, encoder=encoder, dense_encoder=dense_encoder, device=device)
    return searcher_over(retrievers, options)


def open_retrievers(indexes: IndexRef | Sequence[IndexRef], options: SearchOptions, *,
                    encoder: SparseEncoder | None = None, dense_encoder: DenseEncoder | None = None,
                    device: str | None = None) -> dict[str, Retriever]:
    """The retrievers of `options.mode` over `indexes`, labelled as `open_search` labels them, without feedback
    (see `searcher_over`)."""
    if device is not None:
        from lexir.encoders.device import resolve_device

        resolve_device(device)
    refs = [indexes] if isinstance(indexes, (str, Path, LiveIndex, ShardedIndex)) else list(indexes)
    if not refs:
        raise LexirError("give at least one index directory")
    retrievers: dict[str, Retriever] = {}
    seen: set[Path] = set()
    for ref in refs:
        live = open_index(ref) if isinstance(ref, (str, Path)) else ref
        if live.path.resolve() in seen:
            raise LexirError(f"the index {live.path} is given twice")
        seen.add(live.path.resolve())
        prefix = f"{live.path}:" if len(refs) > 1 else ""
        sharded = isinstance(live, ShardedIndex)
        if options.mode in ("sparse", "hybrid"):
            retrievers[f"{prefix}sparse"] = (ShardedSparseRetriever if sharded else SparseRetriever)(
                live, query_weighting=options.query_weighting, query_options=options.query_option_map,
                encoder=encoder, device=device)
        if options.mode in ("dense", "hybrid"):
            retrievers[f"{prefix}dense"] = (ShardedDenseRetriever if sharded else DenseRetriever)(
                live, encoder=dense_encoder, device=device)
    return retrievers


def searcher_over(retrievers: Mapping[str, Retriever], options: SearchOptions) -> Searcher:
    """A Searcher over those of `retrievers` that `options.mode` searches, each side wrapped in its feedback
    (`options.prf`, `options.dense_prf`). The retrievers are shared, not copied: a server opens them once (with
    their encoders, models and segment caches) and makes a light Searcher from them per feedback setting."""
    chosen: dict[str, Retriever] = {}
    for label, retriever in retrievers.items():
        if retriever.kind == "sparse" and options.mode in ("sparse", "hybrid"):
            feedback = options.prf
        elif retriever.kind == "dense" and options.mode in ("dense", "hybrid"):
            feedback = options.dense_prf
        else:
            continue
        if feedback is not None and isinstance(retriever.live, ShardedIndex):
            raise LexirError("pseudo-relevance feedback is not available on a sharded index")
        chosen[label] = retriever if feedback is None else FeedbackRetriever(retriever, feedback)
    return Searcher(chosen, options)


class Searcher:
    """Searches through its retrievers and fuses their lists when there are several.

    Args:
        retrievers: label -> retriever, in the order fusion weights refer to (see `open_search`).
        options: the search options; `options.fusion` must be None with a single retriever.
    """

    def __init__(self, retrievers: Mapping[str, Retriever], options: SearchOptions | None = None) -> None:
        options = options or SearchOptions()
        if not retrievers:
            raise LexirError("give at least one retriever")
        if len(retrievers) == 1 and options.fusion is not None:
            raise LexirError("fusion needs two or more retrievers: use --mode hybrid, or give several indexes")
        self.retrievers = dict(retrievers)
        self.options = options
        self.fusion: Fusion | None = options.fusion if options.fusion is not None or len(retrievers) == 1 else Fusion()
        if self.fusion is not None:
            self.fusion.weights_for(len(retrievers))  # one weight per retriever, checked now

    @property
    def labels(self) -> list[str]:
        return list(self.retrievers)

    def using(self, options: SearchOptions) -> Searcher:
        """The same retrievers searched with other ranking options (algorithm, pruning, fusion, depth)."""
        if not options.same_encoding(self.options):
            raise LexirError("mode, query weighting and query options decide which retrievers are opened; "
                             "open another Searcher to change them")
        return Searcher(self.retrievers, options)

    def warm_up(self) -> None:
        """Load the encoders (and models) so that they are not counted in the first query's time."""
        for retriever in self.retrievers.values():
            retriever.warm_up()

    # ranked lists -------------------------------------------------------------------------------------------

    def lists(self, queries: Sequence[SparseQuery], k: int) -> list[list[Hits]]:
        """Per query, each retriever's hits at the depth fusion takes (batched, parallel scoring)."""
        _, ranked = self._ranked(queries, k, batched=True)
        return [[lists[row] for lists in ranked] for row in range(len(queries))]

    def lists_one(self, query: SparseQuery, k: int) -> list[Hits]:
        """One query's lists, each retriever ranking in the calling thread (for latency)."""
        _, ranked = self._ranked([query], k, batched=False)
        return [lists[0] for lists in ranked]

    def _ranked(self, queries: Sequence[SparseQuery], k: int, *, batched: bool) -> tuple[list[Any], list[list[Hits]]]:
        """Each retriever's encoded queries and, per retriever, its hits of every query at the list depth."""
        depth = self._list_depth(k)
        encoded = [retriever.encode(queries) for retriever in self.retrievers.values()]
        if batched:
            ranked = [retriever.rank(one, depth, self.options) for retriever, one in zip(self.retrievers.values(),
                                                                                           encoded)]
        else:
            ranked = [[retriever.rank_one(one, depth, self.options)]
                      for retriever, one in zip(self.retrievers.values(), encoded)]
        return encoded, ranked

    def combine(self, lists: Sequence[Ranking], k: int, fusion: Fusion | None = None) -> FusedRanking:
        """One query's best k: its single list as it is, or the lists fused (with `fusion`, default this one's)."""
        fusion = fusion or self.fusion
        if fusion is None:
            scores = np.asarray(lists[0].scores, dtype=np.float64)[:k]
            return FusedRanking(np.asarray(lists[0].keys)[:k], scores, scores[:, None])
        return fuse(lists, fusion, k)

    def rank(self, queries: Sequence[SparseQuery], k: int) -> list[FusedRanking]:
        """The best k (ids, scores) of many queries: one encoding pass per retriever, parallel scoring."""
        return [self.combine(lists, k) for lists in self.lists(queries, k)]

    def rank_one(self, query: SparseQuery, k: int) -> FusedRanking:
        """The best k (ids, scores) of one query, in the calling thread."""
        return self.combine(self.lists_one(query, k), k)

    # results users see --------------------------------------------------------------------------------------

    def search(self, query: SparseQuery, k: int = 10, *, explain: bool = False, with_text: bool = False
               ) -> SearchResult:
        """One query, in the calling thread: text, or (sparse only) a {term: weight} map or a CSR row over the
        index vocabulary."""
        self.warm_up()
        started = time.perf_counter()
        encoded, ranked = self._ranked([query], k, batched=False)
        return self._result(encoded, 0, [lists[0] for lists in ranked], k, started, explain, with_text)

    def search_batch(self, queries: Sequence[SparseQuery], k: int = 10, *, explain: bool = False,
                     with_text: bool = False) -> list[SearchResult]:
        """Many queries at once: one encoding pass per retriever, parallel scoring."""
        self.warm_up()
        started = time.perf_counter()
        encoded, ranked = self._ranked(queries, k, batched=True)
        return [self._result(encoded, row, [lists[row] for lists in ranked], k, started, explain, with_text)
                for row in range(len(queries))]

    def _result(self, encoded: list[Any], row: int, lists: list[Hits], k: int, started: float, explain: bool,
                with_text: bool) -> SearchResult:
        fused = self.combine(lists, k)
        placed = self._places(lists)  # id -> (retriever position, position in its list)
        hits = []
        for rank, (key, score, parts) in enumerate(zip(fused.keys, fused.scores, fused.parts), start=1):
            hits.append(Hit(id=str(key), score=float(score), rank=rank))
            if explain and self.fusion is not None:
                hits[-1].contributions = {label: float(part) for label, part in zip(self.labels, parts)}
        retrievers = list(self.retrievers.values())
        if with_text or (explain and self.fusion is None):
            for position, retriever in enumerate(retrievers):
                mine = [i for i, hit in enumerate(hits) if placed[hit.id][0] == position]
                if not mine:
                    continue
                chosen = _subset(lists[position], [placed[hits[i].id][1] for i in mine])
                if with_text:
                    for i, document in zip(mine, retriever.documents(encoded[position].snapshot, chosen)):
                        hits[i].title, hits[i].text = document.title, document.text
                if explain and self.fusion is None:
                    for i, parts in zip(mine, self._explained(retriever, encoded[position], row, chosen)):
                        hits[i].contributions = parts
        terms = {}
        sparse = self._single_sparse()
        if sparse is not None:
            terms = encoded[0].terms(row)
        label = encoded[0].labels[row]
        missing = tuple(sorted({name for one in lists for name in one.missing}))
        return SearchResult(label, hits, (time.perf_counter() - started) * 1000, terms, missing)

    def _explained(self, retriever: Retriever, encoded: Any, row: int, hits: Hits) -> list[dict[str, float]]:
        """A single retriever's explanation: per-term parts (sparse), or the score itself (dense)."""
        if isinstance(retriever, SparseRetriever):
            return retriever.explain(encoded, row, hits, self.options)
        return [{self.labels[0]: float(score)} for score in hits.scores]

    @staticmethod
    def _places(lists: list[Hits]) -> dict[str, tuple[int, int]]:
        """Where each id was first found: (retriever position, position in that retriever's list)."""
        placed: dict[str, tuple[int, int]] = {}
        for position, hits in enumerate(lists):
            for at, key in enumerate(hits.keys):
                placed.setdefault(str(key), (position, at))
        return placed

    def _list_depth(self, k: int) -> int:
        """Hits asked of each retriever (each segment clamps them to its own size)."""
        k = check_k(k)
        return k if self.fusion is None else max(k, self.options.fusion_depth)

    # what is searched ---------------------------------------------------------------------------------------

    @property
    def num_docs(self) -> int:
        """Documents the largest index can return (deleted ones excluded)."""
        return max(retriever.live.snapshot().num_docs for retriever in self.retrievers.values())

    def query_figures(self, query: SparseQuery) -> tuple[int, int] | None:
        """(nonzero query terms, postings their lists hold) of one query, for a single sparse retriever."""
        figures = self.queries_figures([query])
        return None if figures is None else figures[0]

    def queries_figures(self, queries: Sequence[SparseQuery]) -> list[tuple[int, int]] | None:
        """`query_figures` of many queries, encoded in one pass (an evaluation's every query)."""
        retriever = self._single_sparse()
        if retriever is None:
            return None
        encoded = retriever.encode(queries)
        return [retriever.query_figures(encoded, row) for row in range(len(queries))]

    def mean_doc_nonzeros(self) -> float | None:
        """Mean nonzeros per document vector over every segment, for a single sparse retriever."""
        retriever = self._single_sparse()
        if retriever is None:
            return None
        counts = [np.asarray(index.doc_nnz) for index in retriever.live.snapshot().segments.values()]
        total = sum(len(one) for one in counts)
        return float(sum(float(one.sum()) for one in counts) / total) if total else 0.0

    def _single_sparse(self) -> SparseRetriever | None:
        only = next(iter(self.retrievers.values()))
        return only if len(self.retrievers) == 1 and isinstance(only, SparseRetriever) else None

    def describe(self) -> dict[str, Any]:
        """The encoder entry of results: the one retriever's spec, or a description of the fused system."""
        specs = {label: retriever.spec for label, retriever in self.retrievers.items()}
        if self.fusion is None:
            return next(iter(specs.values())).to_dict()
        name = f"{self.fusion.method}(" + " + ".join(spec.name for spec in specs.values()) + ")"
        return {"name": name, "kind": "fused", "retrievers": {label: spec.to_dict() for label, spec in specs.items()},
                "fusion": self.fusion.to_dict()}

    def size_bytes(self) -> int:
        """Bytes on disk of what is searched: each index's sparse files (all segments) and/or its dense sides."""
        total = 0
        for retriever in self.retrievers.values():
            segments = [index.path for index in retriever.live.snapshot().segments.values()]
            dense = sum(folder_bytes(path / DENSE_DIR) for path in segments if (path / DENSE_DIR).is_dir())
            total += dense if retriever.kind == "dense" else folder_bytes(retriever.live.path) - dense
        return total

    def close(self) -> None:
        for retriever in self.retrievers.values():
            retriever.live.snapshot().close()


def _subset(hits: Hits, positions: list[int]) -> Hits:
    chosen = np.asarray(positions, dtype=np.int64)
    return Hits(hits.keys[chosen], hits.scores[chosen], hits.segments[chosen], hits.nums[chosen])
