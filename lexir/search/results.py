"""What searches return: ranked hits of one retriever (`Hits`), and the hits users see (`Hit`, `SearchResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lexir.errors import LexirError
from lexir.search.fusion import Ranking


@dataclass
class Hit:
    """One ranked document. `contributions` (term -> score part, or retriever -> fused part) when explaining."""

    id: str
    score: float
    rank: int
    title: str | None = None
    text: str | None = None
    contributions: dict[str, float] | None = None

    def to_dict(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    took_ms: float
    query_terms: dict[str, float] = field(default_factory=dict)
    missing_shards: tuple[str, ...] = ()  # shards of a sharded index that did not answer: the hits are partial

    def to_dict(self) -> dict[str, object]:
        result: dict[str, object] = {"query": self.query, "hits": [hit.to_dict() for hit in self.hits],
                                     "took_ms": round(self.took_ms, 3)}
        if self.missing_shards:
            result.update(partial=True, missing_shards=list(self.missing_shards))
        return result


@dataclass(frozen=True)
class RankedNums:
    """Top-k of one query in one index directory: document numbers and scores, before any id lookup."""

    nums: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Hits(Ranking):
    """One retriever's top hits of one query, best first: a Ranking (external ids as keys, scores) that also
    knows where each hit lives, its segment (named as in a live index's commit, "" is the base) and number.
    Over a sharded index `segments` name shards, `nums` hold global ordinals, and `missing` names the shards that
    did not answer (a partial list)."""

    segments: np.ndarray
    nums: np.ndarray
    missing: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.nums.size)


def check_k(k: int) -> int:
    """`k` as an int; k <= 0 (or not a whole number) is an error."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0:
        raise LexirError(f"k must be a positive number of hits, got {k!r}")
    return int(k)


def clamp_k(k: int, num_docs: int) -> int:
    """`k` clamped to the number of documents (at least 1); k <= 0 (or not a whole number) is an error."""
    return min(check_k(k), max(num_docs, 1))
