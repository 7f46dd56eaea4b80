"""Search over a live index: every segment searched with one query vector, tombstones honoured, one top-k.

Statistics are those of the live documents of all segments: the corpus IDF used by `query_weighting`
and by inference-free encoders, and BM25's IDF (document impacts carry the IDF of the build, so query
weights are rescaled by live IDF / build IDF; BM25's length normalisation keeps the build's average
length, and words first seen in added documents are not in the build's vocabulary).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import scipy.sparse as sp

from lexir.encoders.base import SparseEncoder
from lexir.encoders.idf import corpus_idf
from lexir.errors import LexirError
from lexir.index.live import BASE, LiveIndex, Snapshot
from lexir.search.searcher import QUERY_WEIGHTINGS, Hit, Searcher, SearchResult, SparseQuery


class LiveSearcher:
    """Searches the latest commit of a live index as one index (options as for `Searcher`)."""

    def __init__(self, index: LiveIndex | Path | str, *, query_weighting: str = "model",
                 query_options: Mapping[str, object] | None = None, algorithm: str = "auto",
                 heap_factor: float = 1.0, query_cut: int | None = None) -> None:
        self.live = index if isinstance(index, LiveIndex) else LiveIndex(index)
        self._base_searcher = Searcher(self.live.snapshot().base, query_options=query_options,
                                       algorithm=algorithm, heap_factor=heap_factor, query_cut=query_cut)
        if query_weighting not in QUERY_WEIGHTINGS:
            raise LexirError(f"query weighting must be one of {', '.join(QUERY_WEIGHTINGS)}, got {query_weighting!r}")
        self.query_weighting = query_weighting
        self._prepared: tuple[Snapshot, dict[str, Searcher]] | None = None

    @cached_property
    def encoder(self) -> SparseEncoder:
        return self._base_searcher.encoder

    def warm_up(self) -> None:
        self._base_searcher.warm_up()

    def _searchers(self) -> tuple[Snapshot, dict[str, Searcher]]:
        """One Searcher per segment of the latest snapshot, sharing the query encoder."""
        snapshot = self.live.snapshot()
        if self._prepared is None or self._prepared[0] is not snapshot:
            base = self._base_searcher
            searchers = {BASE: base}
            for name, index in snapshot.segments.items():
                if name != BASE:
                    searchers[name] = Searcher(index, encoder=self.encoder, algorithm=base.algorithm,
                                               heap_factor=base.heap_factor, query_cut=base.query_cut)
            self.encoder.use_corpus_statistics(snapshot.statistics)
            self._prepared = (snapshot, searchers)
        return self._prepared

    def encode(self, queries: Sequence[SparseQuery], snapshot: Snapshot) -> sp.csr_matrix:
        """Encode with the index's encoder, then weight with the statistics of the live documents."""
        vectors = self._base_searcher.encode(queries)
        if self.query_weighting != "model":
            idf = corpus_idf(snapshot.doc_freq, snapshot.num_docs)[vectors.indices]
            vectors.data = idf if self.query_weighting == "idf" else vectors.data * idf
        return vectors

    def search(self, query: SparseQuery, k: int = 10, *, explain: bool = False, with_text: bool = False
               ) -> SearchResult:
        return self.search_batch([query], k, explain=explain, with_text=with_text)[0]

    def search_batch(self, queries: Sequence[SparseQuery], k: int = 10, *, explain: bool = False,
                     with_text: bool = False) -> list[SearchResult]:
        """Search every query in every segment; results merged by score (ties: older segment, lower number)."""
        self.warm_up()
        snapshot, searchers = self._searchers()
        started = time.perf_counter()
        vectors = self.encode(queries, snapshot)
        vocabulary = self.encoder.vocabulary
        results = []
        for row, query in enumerate(queries):
            vector = vectors[row]
            hits = self._merged_hits(snapshot, searchers, vector, k)
            for rank, (hit, _) in enumerate(hits, start=1):
                hit.rank = rank
            self._describe(snapshot, searchers, vector, hits, explain, with_text)
            terms = {vocabulary[t]: float(w) for t, w in zip(vector.indices, vector.data)}
            label = query if isinstance(query, str) else " ".join(terms)
            results.append(SearchResult(label, [hit for hit, _ in hits],
                                        (time.perf_counter() - started) * 1000, terms))
        return results

    def _merged_hits(self, snapshot: Snapshot, searchers: dict[str, Searcher], vector: sp.csr_matrix, k: int
                     ) -> list[tuple[Hit, str]]:
        candidates = []
        for order, (name, searcher) in enumerate(searchers.items()):
            if searcher.index.num_docs == 0:
                continue
            ranked = searcher.rank_one(vector, k + len(snapshot.deleted[name]))
            alive = ~snapshot.is_deleted(name, ranked.nums)
            candidates.extend((-float(score), order, int(num), name)
                              for num, score in zip(ranked.nums[alive], ranked.scores[alive]))
        best = sorted(candidates)[:k]
        return [(Hit(id="", score=-negative, rank=0, num=num), name) for negative, _, num, name in best]

    def _describe(self, snapshot: Snapshot, searchers: dict[str, Searcher], vector: sp.csr_matrix,
                  hits: list[tuple[Hit, str]], explain: bool, with_text: bool) -> None:
        """Fill ids (and texts and term contributions when asked) from each hit's own segment."""
        for hit, name in hits:
            store = snapshot.segments[name].docstore
            document = store.documents([hit.num])[0]
            hit.id = document.id
            if with_text:
                hit.title, hit.text = document.title, document.text
            if explain:
                hit.contributions = searchers[name].explain(vector, hit.num)

