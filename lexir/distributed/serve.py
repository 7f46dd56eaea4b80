"""`lexir serve INDEX --ray ADDRESS`: a sharded index's shards as Ray Serve deployments, behind lexir's own app.

Each shard is one Serve application holding one deployment of `replicas` replicas; a replica opens the shard's
folder as a LocalShard (search/shard.py), so every node that runs one must see the index at the same path (a shared
file system). The HTTP front door is the app `lexir serve` always runs (api/app.py: same endpoints, keys, errors
and limits), in this process; its ShardedIndex reaches the shards through RemoteShard, the Shard protocol over
deployment handles: queries are encoded and weighted here and ranked on the shards, writes go to the owning
shard's deployment. A deployment that does not answer (deleted, its replicas dead or failing, past the timeout) is
a ShardUnavailableError naming the shard: the API's 503, or with --allow-partial the others' hits, flagged partial.
Serve's own HTTP proxies are not started (proxy_location Disabled): only handles are used. A sparse query costs one
call per shard: queries are weighted with the statistics each shard last reported (fetched once, and again after a
write through this front door), and the ranking call carries that commit generation; a replica whose shard has
another commit ranks nothing and returns its new statistics instead (StaleShardStatistics), and the coordinator
weighs the queries again and ranks once more. So a query is always ranked on the commit it was weighted for, as on
one index.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lexir.corpus import Document
from lexir.distributed.cluster import connect, found_lexir_error
from lexir.encoders.base import CorpusStatistics
from lexir.errors import LexirError
from lexir.index.reader import InvertedIndex
from lexir.index.sharded import is_sharded, read_ordinals, read_sharded_manifest, shard_path
from lexir.search.algorithms.dispatch import KernelQueries
from lexir.search.options import SearchOptions
from lexir.search.shard import LocalShard, ShardHits, ShardUnavailableError, StaleShardStatistics

SHARD_TIMEOUT_S = 30.0  # a shard that takes longer to answer one call is down
RANKINGS = ("rank_encoded", "rank_dense", "explain")


class ShardReplica:
    """One replica of a shard's deployment: the shard folder opened in it."""

    def __init__(self, index: str, name: str, max_segments: int | None = None) -> None:
        manifest = read_sharded_manifest(index)
        base_docs = manifest.shard_docs[manifest.shards.index(name)]
        self.shard = LocalShard(shard_path(index, name), read_ordinals(index, name, base_docs), max_segments)

    def call(self, method: str, *args: Any) -> Any:
        """The LocalShard method `method` on `args` (the Shard protocol, one entry point). A ranking runs on the
        shard's latest commit: with several replicas, the one that gave the statistics may not be this one."""
        if method in RANKINGS:
            self.shard.statistics()  # LocalShard ranks on the commit of the statistics it last gave
        return getattr(self.shard, method)(*args)

    def rank_since(self, known: int | None, queries: KernelQueries, k: int, options: SearchOptions
                   ) -> tuple[int, CorpusStatistics | None, list[ShardHits] | None]:
        """A ranking and the check of the statistics it was weighted with, in one call: (generation, None, hits)
        when the caller's `known` generation is the shard's commit, else (generation, statistics, None)."""
        generation, fresh = self.statistics_since(known)  # the shard now ranks on the commit of `generation`
        if fresh is not None:
            return generation, fresh, None
        return generation, None, self.shard.rank_encoded(queries, k, options)

    def statistics_since(self, known: int | None) -> tuple[int, CorpusStatistics | None]:
        """(commit generation, the statistics, or None when the caller's `known` generation is current)."""
        while True:
            snapshot = self.shard.live.snapshot()
            statistics = self.shard.statistics()
            if statistics is snapshot.statistics:  # no commit landed between the two
                generation = snapshot.commit.generation
                return generation, None if generation == known else statistics


class RemoteShard:
    """The Shard protocol over a shard deployment's handle (see the module docstring for what counts as down)."""

    def __init__(self, name: str, handle: Any, timeout_s: float = SHARD_TIMEOUT_S) -> None:
        self.name = name
        self.handle = handle
        self.timeout_s = timeout_s
        self._known: tuple[int | None, CorpusStatistics | None] = (None, None)

    def _answer(self, response: Any) -> Any:
        try:
            return response.result(timeout_s=self.timeout_s)
        except Exception as error:
            lexir_error = found_lexir_error(error)  # the shard's own answer (a missing document, a damaged file)
            if lexir_error is not None:
                raise lexir_error from None
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise ShardUnavailableError([self.name], f"its Ray Serve deployment did not answer ({reason})") from None

    def _call(self, method: str, *args: Any) -> Any:
        return self._answer(self.handle.call.remote(method, *args))

    def statistics(self) -> CorpusStatistics:
        """The statistics the shard last reported (a call only the first time, or after a write through this shard:
        a ranking call tells when they changed otherwise, see rank_encoded)."""
        known_generation, known = self._known
        if known is not None:
            return known
        generation, fresh = self._answer(self.handle.statistics_since.remote(None))
        self._known = (generation, fresh)
        return fresh  # type: ignore[no-any-return]

    def rank_encoded(self, queries: KernelQueries, k: int, options: SearchOptions) -> list[ShardHits]:
        """One call: the ranking, refused (StaleShardStatistics, the new statistics kept) when the shard's commit is
        not the one whose statistics the queries were weighted with."""
        try:
            generation, fresh, hits = self._answer(self.handle.rank_since.remote(self._known[0], queries, k, options))
        except ShardUnavailableError:
            self._known = (None, None)  # asked again next time: a shard that stays down is left out of the weighting
            raise
        if fresh is not None:
            self._known = (generation, fresh)
            raise StaleShardStatistics([self.name])
        return hits  # type: ignore[no-any-return]

    def rank_dense(self, embeddings: np.ndarray, k: int) -> list[ShardHits]:
        return self._call("rank_dense", embeddings, k)

    def explain(self, vector: sp.csr_matrix, doc_ids: Sequence[str], options: SearchOptions,
                vocabulary: Sequence[str]) -> list[dict[str, float]]:
        return self._call("explain", vector, list(doc_ids), options, list(vocabulary))

    def documents(self, doc_ids: Sequence[str]) -> list[Document]:
        return self._call("documents", list(doc_ids))

    def add(self, documents: Sequence[Document]) -> int:
        try:
            return self._call("add", list(documents))
        finally:
            self._known = (None, None)  # the next query fetches the statistics of the new commit

    def delete(self, doc_ids: Sequence[str]) -> int:
        try:
            return self._call("delete", list(doc_ids))
        finally:
            self._known = (None, None)

    def stats(self) -> dict[str, object]:
        return self._call("stats")

    def check(self) -> None:
        self._call("check")

    def segments(self) -> Mapping[str, InvertedIndex]:
        return {}  # they live in the replicas

    def close(self) -> None:
        """Nothing here: the deployments outlive a handle (`undeploy_shards` removes them)."""


def application_name(index: Path, shard: str) -> str:
    """The Serve application of one shard: the index's folder name, a hash of its path (two indexes never share
    one), and the shard's name."""
    digest = hashlib.blake2b(str(Path(index).resolve()).encode("utf-8"), digest_size=4).hexdigest()
    return f"lexir-{Path(index).resolve().name}-{digest}-{shard}"


def deploy_shards(index: Path, address: str, *, replicas: int = 1, cpus_per_replica: float = 1.0,
                  max_segments: int | None = None, timeout_s: float = SHARD_TIMEOUT_S) -> list[RemoteShard]:
    """Deploy every shard of the sharded index at `index` on the Ray cluster at `address` (waiting until each is
    running; a redeploy replaces the previous one) and return their RemoteShards, in shards.json's order."""
    if not is_sharded(index):
        raise LexirError(f"{index} is not a sharded index: --ray serves the shards of one built with --shards S; "
                         "serve a single index without --ray")
    if replicas < 1:
        raise LexirError(f"--replicas must be at least 1, got {replicas}")
    connect(address)
    from ray import serve

    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # not a line per deployment started or deleted
    serve.start(proxy_location="Disabled")
    deployment = serve.deployment(ShardReplica, name="shard", num_replicas=replicas,
                                  ray_actor_options={"num_cpus": cpus_per_replica})
    shards = []
    for name in read_sharded_manifest(index).shards:
        handle = serve.run(deployment.bind(str(Path(index).resolve()), name, max_segments),
                           name=application_name(index, name), route_prefix=None)
        shards.append(RemoteShard(name, handle, timeout_s))
    return shards


def undeploy_shards(index: Path) -> None:
    """Remove the shard deployments of `index` from the cluster."""
    from ray import serve

    for name in read_sharded_manifest(index).shards:
        serve.delete(application_name(index, name))
