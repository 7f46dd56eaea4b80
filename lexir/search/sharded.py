"""A sharded index searched and written as one: `ShardedIndex` (the coordinator) and its two retrievers.

Queries are encoded ONCE, with the whole index's statistics: the sum of the shards' live CorpusStatistics (N,
document frequencies, text df; the words live writes appended to BM25's vocabulary are merged by string), so
BM25's IDF and inference-free corpus IDF are those of one index over the same documents. The encoded vectors
are prepared for the kernels once too (exact grid weights, search/algorithms/exact.py) and go to every shard
(term ids mapped to a shard's own only where live writes appended words), each shard returns its top k with
scores and global ordinals, and the lists merge exactly: score descending, then ordinal ascending (one index
breaks ties by its document numbers, which are the input positions the ordinals record). The statistics are
checked once per query: each local shard's commit stamp, the merged statistics reused while no shard changed.
A batch searches the shards one after another, each with every core; one query searches them one after another
in the calling thread too, unless its lists hold at least `parallel_postings` postings: then they fan out over a
thread pool (the kernels release the GIL), which costs more than it saves on smaller queries.

Writes are routed by `shard_of(id)`; a shard that fails is named (ShardUnavailableError). Nothing is sent to a
shard that did not answer its check before a write; when a batch spans shards and one fails while the others
commit, the others' documents stay committed (each shard commits atomically, a batch across shards is not one
transaction) and the error says which shards committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from lexir.corpus import Document
from lexir.encoders.base import CorpusStatistics, SparseEncoder
from lexir.encoders.dense import DenseEncoder
from lexir.errors import IndexFormatError, LexirError
from lexir.files import folder_bytes
from lexir.index.dense import has_dense, read_dense_manifest
from lexir.index.live import DocumentNotFoundError, LiveIndex
from lexir.index.reader import InvertedIndex
from lexir.index.sharded import (
    ShardedManifest,
    is_sharded,
    read_ordinals,
    read_sharded_manifest,
    shard_of,
    shard_path,
)
from lexir.search.algorithms.dispatch import KernelQueries
from lexir.search.base_parts import BaseParts
from lexir.search.dense import DenseQueries, DenseRetriever
from lexir.search.options import SearchOptions
from lexir.search.results import Hits
from lexir.search.shard import LocalShard, Shard, ShardHits, ShardUnavailableError, StaleShardStatistics
from lexir.search.sparse import SparseQueries, SparseQuery, SparseRetriever

T = TypeVar("T")
# a query whose lists hold fewer postings (over every shard) is searched shard after shard: measured on IMDb-100k BM25
# at 2 shards on 2 busy cores, the hand-over to the pool cost more wall time than it saved up to about 1M postings
PARALLEL_POSTINGS = 1_000_000
STALE_RETRIES = 3  # a query is weighed again at most this often when shards report new commits while it is ranked
DOWN = (ShardUnavailableError, IndexFormatError, OSError)  # what marks a shard down (other errors are the caller's)


@dataclass(frozen=True)
class ShardedCommit:
    """A write's outcome: the generation (the sum of the shards' generations: it grows with every commit)."""

    generation: int
    shards: dict[str, int]


class DownShard:
    """A shard that could not be opened (served with --allow-partial): every call says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def __getattr__(self, attribute: str) -> Callable[..., object]:
        def refuse(*_: object, **__: object) -> object:
            raise ShardUnavailableError([self.name], self.reason)
        return refuse


def merged_statistics(parts: Sequence[CorpusStatistics]) -> tuple[CorpusStatistics, list[np.ndarray | None]]:
    """The whole index's statistics from its shards', and per shard the map of global term ids to its own (-1:
    a word it lacks), or None where its ids are the global ones (no live write appended words anywhere)."""
    build_terms = len(parts[0].doc_freq) - len(parts[0].added_terms)
    added: dict[str, int] = {}
    for part in parts:
        for term in part.added_terms:
            added.setdefault(term, build_terms + len(added))
    size = build_terms + len(added)
    doc_freq = np.zeros(size, dtype=np.int64)
    with_text = all(part.text_doc_freq is not None for part in parts)
    text_doc_freq = np.zeros(size, dtype=np.int64) if with_text else None
    maps: list[np.ndarray | None] = []
    for part in parts:
        columns = np.arange(len(part.doc_freq), dtype=np.int64)  # the shard's ids -> global ids
        columns[build_terms:] = [added[term] for term in part.added_terms]
        doc_freq[columns] += part.doc_freq
        if text_doc_freq is not None:
            text_doc_freq[columns] += part.text_doc_freq  # type: ignore[operator]
        if added:
            to_shard = np.full(size, -1, dtype=np.int64)
            to_shard[columns] = np.arange(len(columns))
            maps.append(to_shard)
        else:
            maps.append(None)
    statistics = CorpusStatistics(sum(part.num_docs for part in parts), doc_freq, text_doc_freq, tuple(added))
    return statistics, maps


def _remapped(vectors: sp.csr_matrix, to_shard: np.ndarray | None, size: int) -> sp.csr_matrix:
    """Query vectors over the global vocabulary as vectors over one shard's (words it lacks dropped)."""
    if to_shard is None:
        return vectors
    coo = vectors.tocoo()
    columns = to_shard[coo.col]
    kept = columns >= 0
    return sp.csr_matrix((coo.data[kept], (coo.row[kept], columns[kept])), shape=(vectors.shape[0], size),
                         dtype=np.float32)


def _remapped_prepared(queries: KernelQueries, to_shard: np.ndarray | None) -> KernelQueries:
    """Prepared queries over the global vocabulary as queries over one shard's (words it lacks dropped, each
    query's terms sorted again); the weights stay those of the whole index's preparation."""
    if to_shard is None:
        return queries
    num_queries = len(queries.offsets) - 1
    rows = np.repeat(np.arange(num_queries), np.diff(queries.offsets))
    terms = to_shard[queries.terms]
    kept = terms >= 0
    rows, terms, weights = rows[kept], terms[kept], queries.weights[kept]
    order = np.lexsort((terms, rows))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=num_queries))])
    return KernelQueries(offsets.astype(queries.offsets.dtype), terms[order], weights[order])


class ShardedSnapshot:
    """The shards' statistics at one moment, merged: what one encoding of queries is weighted with.

    It stands where a LiveIndex's Snapshot stands for SparseRetriever and DenseRetriever (`statistics`, `base`
    for the encoder, `num_docs`, `segments`); shards search their own latest commits.
    """

    def __init__(self, index: ShardedIndex, parts: tuple[CorpusStatistics, ...], names: tuple[str, ...]) -> None:
        self.index = index
        self.parts = parts
        self.names = names  # the shards that answered (all of them unless partial)
        self.shards = [shard for shard in index.shards if shard.name in names]
        self.missing = tuple(name for name in index.manifest.shards if name not in names)
        self.statistics, self._maps = merged_statistics(parts)

    @property
    def base(self) -> InvertedIndex:
        return self.index.encoder_index

    @cached_property
    def base_parts(self) -> BaseParts | None:
        """The shards as parts of one kernel call, when each is local and its base alone (base_parts.py)."""
        return BaseParts.of(self.shards, self.parts)

    @property
    def num_docs(self) -> int:
        return self.statistics.num_docs

    @property
    def segments(self) -> dict[str, InvertedIndex]:
        """Every local shard's segments, named SHARD/SEGMENT."""
        return {f"{shard.name}/{name}": index for shard in self.index.shards if shard.name in self.names
                for name, index in shard.segments().items()}

    def for_shard(self, name: str, vectors: sp.csr_matrix) -> sp.csr_matrix:
        at = self.names.index(name)
        return _remapped(vectors, self._maps[at], len(self.parts[at].doc_freq))

    def prepared_for_shard(self, name: str, queries: KernelQueries) -> KernelQueries:
        return _remapped_prepared(queries, self._maps[self.names.index(name)])

    def vocabulary_of(self, name: str, vocabulary: Sequence[str]) -> list[str]:
        """Shard `name`'s vocabulary: the build's terms, then the words live writes appended to it."""
        part = self.parts[self.names.index(name)]
        build_terms = len(part.doc_freq) - len(part.added_terms)
        return [*vocabulary[:build_terms], *part.added_terms]

    def close(self) -> None:
        """Nothing to release: the shards keep their own snapshots."""


class ShardedIndex:
    """A sharded index directory, opened: its shards (local ones by default, or any `Shard`s), routing, the
    merged statistics and the fan-out.

    Args:
        path: the sharded index directory (shards.json).
        shards: the shards in shards.json's order (default: each opened in this process).
        allow_partial: search the shards that answer when some do not (hits flagged partial) instead of failing.
        max_segments: the local shards' merge policy.
        device: where the local shards' encoders of added documents run their models.
        threads: search one query's shards side by side in threads when it is large enough (False: always one
            after another in the calling thread, which a server whose request threads already fill the cores may
            prefer).
        parallel_postings: the postings (over every shard) from which one query's shards are searched in threads;
            a smaller query is faster searched shard after shard than handed over to the pool.
    """

    def __init__(self, path: Path | str, shards: Sequence[Shard] | None = None, *, allow_partial: bool = False,
                 max_segments: int | None = None, threads: bool = True,
                 parallel_postings: int = PARALLEL_POSTINGS, device: str | None = None) -> None:
        self.path = Path(path)
        self.manifest: ShardedManifest = read_sharded_manifest(self.path)
        self.allow_partial = allow_partial
        self.threads = threads
        self.parallel_postings = parallel_postings
        self.shards: list[Shard] = (list(shards) if shards is not None else
                                    [self._open_local(name, max_segments, device) for name in self.manifest.shards])
        if [shard.name for shard in self.shards] != list(self.manifest.shards):
            raise LexirError(f"the shards given are {[shard.name for shard in self.shards]}; {self.path} has "
                             f"{list(self.manifest.shards)}")
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.shards) - 1), thread_name_prefix="lexir-shard")
        self._snapshot: ShardedSnapshot | None = None
        self._generations: dict[str, int] | None = None  # each shard's latest commit generation, from writes
        self._refreshing = threading.Lock()

    def _open_local(self, name: str, max_segments: int | None, device: str | None) -> Shard:
        path = shard_path(self.path, name)
        try:
            if not path.is_dir():
                raise IndexFormatError(f"its folder {path} is missing")
            base_docs = self.manifest.shard_docs[self.manifest.shards.index(name)]
            return LocalShard(path, read_ordinals(self.path, name, base_docs), max_segments, device)
        except (LexirError, OSError) as error:
            if not self.allow_partial:
                raise ShardUnavailableError([name], str(error)) from None
            return DownShard(name, str(error))  # type: ignore[return-value]

    @cached_property
    def encoder_index(self) -> InvertedIndex:
        """The first openable shard's base: every shard holds the same encoder spec and fitted state."""
        for name in self.manifest.shards:
            path = shard_path(self.path, name)
            if path.is_dir():
                try:
                    return InvertedIndex(path)
                except LexirError:
                    continue
        raise ShardUnavailableError(self.manifest.shards, "no shard can be opened")

    # fan-out ------------------------------------------------------------------------------------------------

    def fan_out(self, call: Callable[[Shard], T], shards: Sequence[Shard] | None = None, *, parallel: bool = True
                ) -> tuple[dict[str, T], tuple[str, ...]]:
        """`call(shard)` on each shard (the first in this thread, the others in the pool when `parallel`); returns
        the answers by shard name and the names of shards that are down (only with allow_partial: else the first
        one down raises ShardUnavailableError)."""
        shards = list(self.shards if shards is None else shards)
        outcomes: dict[str, T] = {}
        down: dict[str, str] = {}

        def run(shard: Shard) -> None:
            try:
                outcomes[shard.name] = call(shard)
            except DOWN as error:
                down[shard.name] = error.reason if isinstance(error, ShardUnavailableError) else str(error)

        if parallel and len(shards) > 1:
            futures = [self._pool.submit(run, shard) for shard in shards[1:]]
            run(shards[0])
            for future in futures:
                future.result()
        else:
            for shard in shards:
                run(shard)
        if down and (not self.allow_partial or len(down) == len(shards)):
            raise ShardUnavailableError(sorted(down), "; ".join(reason for reason in down.values()))
        return outcomes, tuple(sorted(down))

    def snapshot(self) -> ShardedSnapshot:
        """The merged statistics of the shards' latest commits (the same object while no shard changed)."""
        current = self._snapshot
        if current is not None and len(current.shards) == len(self.shards):  # every shard answered last time
            try:  # the common case, checked with the least work: each shard's statistics are the ones merged
                if all(shard.statistics() is part for shard, part in zip(self.shards, current.parts)):
                    return current
            except DOWN:
                pass  # the full check below names the shard or leaves it out
        parts, _ = self.fan_out(lambda shard: shard.statistics(), parallel=False)
        names = tuple(name for name in self.manifest.shards if name in parts)
        current = self._snapshot
        if current is not None and current.names == names and all(
                current.parts[at] is parts[name] for at, name in enumerate(names)):
            return current
        with self._refreshing:
            self._snapshot = ShardedSnapshot(self, tuple(parts[name] for name in names), names)
            return self._snapshot

    def rank_many(self, call: Callable[[Shard], list[ShardHits]], rows: int, k: int, *, parallel: bool
                  ) -> list[Hits]:
        """Each shard's lists of `rows` queries merged into the best k per query (see merge_hits)."""
        answers, down = self.fan_out(call, parallel=parallel and self.threads)
        return [merge_hits({name: lists[row] for name, lists in answers.items()}, k, down) for row in range(rows)]

    # documents and writes -----------------------------------------------------------------------------------

    def owner(self, doc_id: str) -> Shard:
        return self.shards[shard_of(doc_id, len(self.shards))]

    def documents(self, hits: Hits) -> list[Document]:
        """The stored documents of merged hits, each read from its shard."""
        found: dict[str, Document] = {}
        for name in dict.fromkeys(str(name) for name in hits.segments):
            ids = [str(key) for key, shard in zip(hits.keys, hits.segments) if shard == name]
            shard = self.shards[self.manifest.shards.index(name)]
            found.update(zip(ids, shard.documents(ids)))
        return [found[str(key)] for key in hits.keys]

    def document(self, doc_id: str) -> Document:
        return self._answer(self.owner(doc_id), lambda shard: shard.documents([doc_id])[0])

    def add(self, documents: Sequence[Document]) -> ShardedCommit:
        """Route each document to its shard; every shard involved is checked first, then each commits its part."""
        if not documents:
            raise LexirError("no documents to add")
        routed: dict[str, list[Document]] = {}
        for document in documents:
            routed.setdefault(self.owner(document.id).name, []).append(document)
        return self._write(routed, lambda shard, part: shard.add(part))

    def delete(self, doc_ids: Sequence[str]) -> ShardedCommit:
        """Tombstone ids in their shards; an id that is not live raises DocumentNotFoundError before anything is
        written (as one index refuses the whole batch)."""
        for doc_id in doc_ids:
            self.document(doc_id)
        routed: dict[str, list[str]] = {}
        for doc_id in doc_ids:
            routed.setdefault(self.owner(doc_id).name, []).append(doc_id)
        return self._write(routed, lambda shard, part: shard.delete(part))

    def _write(self, routed: Mapping[str, list], write: Callable[[Shard, list], int]) -> ShardedCommit:
        involved = [shard for shard in self.shards if shard.name in routed]
        for shard in involved:  # nothing is sent to a shard that does not answer
            self._answer(shard, lambda one: one.check())
        generations: dict[str, int] = {}
        for shard in involved:
            try:
                generations[shard.name] = write(shard, routed[shard.name])
            except DOWN as error:
                reason = error.reason if isinstance(error, ShardUnavailableError) else str(error)
                done = ", ".join(generations) or "none"
                raise ShardUnavailableError([shard.name], f"{reason}; its documents were not written (shards "
                                            f"that committed their part of this batch: {done})") from None
            except LexirError as error:
                if generations:
                    error.args = (f"{error} (shard {shard.name}; shards that committed their part of this batch: "
                                  f"{', '.join(generations)})",)
                raise
        with self._refreshing:
            if self._generations is None:  # once: every shard's generation (later writes update theirs)
                self._generations = {name: int(one["generation"])  # type: ignore[call-overload]
                                     for name, one in self.fan_out(lambda shard: shard.stats())[0].items()}
            self._generations.update(generations)
            return ShardedCommit(sum(self._generations.values()), generations)

    @staticmethod
    def _answer(shard: Shard, call: Callable[[Shard], T]) -> T:
        try:
            return call(shard)
        except DocumentNotFoundError:
            raise
        except DOWN as error:
            if isinstance(error, ShardUnavailableError):
                raise
            raise ShardUnavailableError([shard.name], str(error)) from None

    # figures ------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """The whole index's figures (sums over the shards) and each shard's."""
        per_shard, down = self.fan_out(lambda shard: shard.stats())
        parts = list(per_shard.values())
        total = {key: sum(int(part[key]) for part in parts)  # type: ignore[call-overload]
                 for key in ("documents", "postings", "segments", "deleted", "generation")}
        return {**total, "terms": max(int(part["terms"]) for part in parts),  # type: ignore[call-overload]
                "bytes": folder_bytes(self.path), "encoder": self.manifest.encoder.to_dict(),
                "dense": all(bool(part["dense"]) for part in parts),
                "shards": {name: per_shard.get(name) for name in self.manifest.shards}, "down": list(down)}

    def check(self) -> list[str]:
        """The names of the shards that do not answer (empty: all healthy)."""
        down = []
        for shard in self.shards:
            try:
                shard.check()
            except DOWN:
                down.append(shard.name)
        return down

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for shard in self.shards:
            if not isinstance(shard, DownShard):
                shard.close()


def merge_hits(lists: Mapping[str, ShardHits], k: int, down: tuple[str, ...] = ()) -> Hits:
    """The best k of the shards' lists: score descending, then ordinal ascending (as one index orders them).
    The result's `segments` name each hit's shard, `nums` hold the ordinals."""
    names = [name for name, one in lists.items() if len(one)]
    if len(names) <= 1:  # each shard's list is in merged order already
        one = lists[names[0]] if names else ShardHits(np.zeros(0, dtype=str), np.zeros(0, dtype=np.float32),
                                                      np.zeros(0, dtype=np.int64))
        shards = np.full(min(k, len(one)), names[0] if names else "", dtype=object)
        return Hits(one.ids[:k], one.scores[:k], shards, one.ordinals[:k], down)
    shard_lists = [lists[name] for name in names]
    scores = np.concatenate([one.scores for one in shard_lists])
    ordinals = np.concatenate([one.ordinals for one in shard_lists])
    best = np.lexsort((ordinals, -scores))[:k]
    ids = np.concatenate([one.ids for one in shard_lists])[best]
    shards = np.repeat(np.array(names, dtype=object), [len(one) for one in shard_lists])[best]
    return Hits(ids, scores[best], shards, ordinals[best], down)


@dataclass(frozen=True)
class ShardedQueries(SparseQueries):
    """SparseQueries that keep the queries given: when a shard's commit changed under their weighting (a remote
    shard says so as it ranks), they are weighed again."""

    given: tuple[SparseQuery, ...] = ()


class ShardedSparseRetriever(SparseRetriever):
    """SparseRetriever over a sharded index: encoding as one index (merged statistics), ranking on the shards."""

    def __init__(self, index: ShardedIndex, *, query_weighting: str = "model",
                 query_options: Mapping[str, object] | None = None, encoder: SparseEncoder | None = None,
                 device: str | None = None) -> None:
        super().__init__(index, query_weighting=query_weighting,  # type: ignore[arg-type]
                         query_options=query_options, encoder=encoder, device=device)
        self.index = index

    def encode(self, queries: Sequence[SparseQuery]) -> ShardedQueries:
        encoded = super().encode(queries)
        return ShardedQueries(encoded.snapshot, encoded.vectors, encoded.labels, encoded.vocabulary, tuple(queries))

    def rank(self, queries: SparseQueries, k: int, options: SearchOptions) -> list[Hits]:
        return self._weighed_again_if_stale(queries, lambda fresh: SparseRetriever.rank(self, fresh, k, options))

    def rank_one(self, queries: SparseQueries, k: int, options: SearchOptions) -> Hits:
        return self._weighed_again_if_stale(queries, lambda fresh: SparseRetriever.rank_one(self, fresh, k, options))

    def _weighed_again_if_stale(self, queries: SparseQueries, rank: Callable[[SparseQueries], T]) -> T:
        """`rank(queries)`, with the queries weighed again (at most STALE_RETRIES times) while a shard reports that
        its commit changed since the statistics they were weighted with."""
        for _ in range(STALE_RETRIES):
            try:
                return rank(queries)
            except StaleShardStatistics:
                if not isinstance(queries, ShardedQueries):
                    raise
                queries = self.encode(queries.given)
        return rank(queries)

    def rank_prepared(self, snapshot: ShardedSnapshot, queries: KernelQueries, k: int,  # type: ignore[override]
                      options: SearchOptions) -> list[Hits]:
        """Top-k of queries prepared once (with the whole index's statistics) on every shard, the lists merged.
        When every shard is a local base alone (base_parts.py), one kernel call ranks one query over all of them (a
        batch: its queries in parallel threads); else a batch searches the shards one after another, each with
        every core, and one query searches them side by side in threads only when its postings pay for the
        hand-over (`parallel_postings`), else in turn."""
        num_queries = len(queries.offsets) - 1
        parallel = (num_queries == 1 and self.index.threads
                    and int(snapshot.statistics.doc_freq[queries.terms].sum()) >= self.index.parallel_postings)

        if not parallel and options.query_cut is None and snapshot.base_parts is not None:
            if num_queries == 1:
                return [snapshot.base_parts.rank_one(queries, k, options, snapshot.missing)]
            return snapshot.base_parts.rank(queries, k, options, snapshot.missing)

        def call(shard: Shard) -> list[ShardHits]:
            return shard.rank_encoded(snapshot.prepared_for_shard(shard.name, queries), k, options)

        answers, down = self.index.fan_out(call, snapshot.shards, parallel=parallel)
        if down or snapshot.missing:
            down = tuple(sorted({*down, *snapshot.missing}))
        return [merge_hits({name: lists[row] for name, lists in answers.items()}, k, down)
                for row in range(num_queries)]

    def explain(self, queries: SparseQueries, row: int, hits: Hits, options: SearchOptions
                ) -> list[dict[str, float]]:
        snapshot: ShardedSnapshot = queries.snapshot  # type: ignore[assignment]
        parts: dict[str, dict[str, float]] = {}
        for name in dict.fromkeys(str(name) for name in hits.segments):
            ids = [str(key) for key, shard in zip(hits.keys, hits.segments) if shard == name]
            shard = self.index.shards[self.index.manifest.shards.index(name)]
            vector = snapshot.for_shard(name, queries.vectors[row])
            vocabulary = snapshot.vocabulary_of(name, queries.vocabulary)
            parts.update(zip(ids, shard.explain(vector, ids, options, vocabulary)))
        return [parts[str(key)] for key in hits.keys]

    def documents(self, snapshot: object, hits: Hits) -> list[Document]:
        return self.index.documents(hits)

    def query_figures(self, queries: SparseQueries, row: int) -> tuple[int, int]:
        """(nonzero query terms, live postings their lists hold over every shard)."""
        vector = queries.vectors[row]
        terms = vector.indices[vector.data > 0].astype(np.int64)
        return int(terms.size), int(queries.snapshot.statistics.doc_freq[terms].sum())


class ShardedDenseRetriever(DenseRetriever):
    """DenseRetriever over a sharded index: the query embedded once, each shard's FAISS side searched."""

    def __init__(self, index: ShardedIndex, encoder: DenseEncoder | None = None, device: str | None = None) -> None:
        for name in index.manifest.shards:  # every shard needs a dense side: a clear error naming one that lacks it
            path = shard_path(index.path, name)
            if path.is_dir() and not has_dense(path):
                raise LexirError(f"shard {name} of {index.path} has no dense side; run `lexir index add-dense` "
                                 "on the sharded index")
        self.live = index  # type: ignore[assignment]
        self.index = index
        self.device = device
        self.manifest = read_dense_manifest(index.encoder_index.path)
        if encoder is not None:
            from lexir.encoders.registry import check_same_encoder

            check_same_encoder(self.manifest.encoder, encoder.spec)
        self._given_encoder = encoder

    def rank(self, queries: DenseQueries, k: int, options: SearchOptions) -> list[Hits]:
        return self.index.rank_many(lambda shard: shard.rank_dense(queries.vectors, k), len(queries.vectors), k,
                                    parallel=len(queries.vectors) == 1)

    def documents(self, snapshot: object, hits: Hits) -> list[Document]:
        return self.index.documents(hits)

    def embeddings(self, snapshot: object, hits: Hits) -> np.ndarray:
        raise LexirError("dense feedback is not available on a sharded index")


def open_index(path: Path | str) -> LiveIndex | ShardedIndex:
    """The index directory at `path` opened for search and writes: a ShardedIndex when it is sharded."""
    return ShardedIndex(path) if is_sharded(path) else LiveIndex(path)
