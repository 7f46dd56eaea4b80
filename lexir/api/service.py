"""What the REST API does, without HTTP: searches in every mode, document writes, statistics.

Sparse search covers every live segment. Dense and hybrid search use the dense side of the built
index (`lexir index build --dense` / `index add-dense`), so documents added live are found by sparse
search only until the dense side is rebuilt; deleted documents are filtered out of every mode.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from lexir.corpus import Document
from lexir.errors import LexirError
from lexir.index.dense import has_dense
from lexir.index.live import BASE, LiveIndex
from lexir.search.hybrid import HybridSearcher, open_retrievers
from lexir.search.live import LiveSearcher
from lexir.search.searcher import SearchResult


class SearchService:
    """One index directory served: a LiveIndex for writes and searchers for each mode."""

    def __init__(self, path: Path | str, max_segments: int | None = None) -> None:
        self.path = Path(path)
        self.live = LiveIndex(self.path) if max_segments is None else LiveIndex(self.path, max_segments=max_segments)
        self.sparse = LiveSearcher(self.live)

    @property
    def has_dense(self) -> bool:
        return has_dense(self.path)

    @cached_property
    def _mode_searchers(self) -> dict[str, HybridSearcher]:
        if not self.has_dense:
            return {}
        return {mode: HybridSearcher(open_retrievers([self.path], mode)) for mode in ("dense", "hybrid")}

    def warm_up(self) -> None:
        """Load models and compile kernels before the first request (not during it)."""
        self.sparse.search_batch(["warm up"], k=1)
        for searcher in self._mode_searchers.values():
            searcher.search("warm up", k=1)

    def search(self, queries: list[str], k: int, mode: str, explain: bool, text: bool) -> list[SearchResult]:
        if mode == "sparse":
            return self.sparse.search_batch(queries, k, explain=explain, with_text=text)
        searcher = self._mode_searchers.get(mode)
        if searcher is None:
            raise LexirError(f"mode '{mode}' needs a dense side: add one with `lexir index add-dense {self.path}`")
        snapshot = self.live.snapshot()
        deleted = len(snapshot.deleted[BASE])
        results = []
        for query in queries:
            result = searcher.search(query, k + deleted, explain=explain, with_text=text)
            alive = [hit for hit in result.hits if not snapshot.is_deleted(BASE, [hit.num])[0]][:k]
            for rank, hit in enumerate(alive, start=1):
                hit.rank = rank
            result.hits = alive
            results.append(result)
        return results

    def document(self, doc_id: str) -> Document:
        return self.live.snapshot().document(doc_id)

    def add(self, documents: list[Document]) -> int:
        return self.live.add(documents).generation

    def delete(self, doc_id: str) -> int:
        return self.live.delete([doc_id]).generation

    def stats(self) -> dict[str, object]:
        snapshot = self.live.snapshot()
        segments = snapshot.segments.values()
        return {
            "documents": snapshot.num_docs, "terms": snapshot.base.num_terms,
            "postings": sum(index.manifest.num_postings for index in segments),
            "segments": len(snapshot.segments),
            "deleted": sum(len(nums) for nums in snapshot.deleted.values()),
            "bytes": sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()),
            "generation": snapshot.commit.generation, "encoder": snapshot.base.manifest.encoder.to_dict(),
            "dense": self.has_dense,
        }
