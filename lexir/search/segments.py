"""Per-segment state shared by every snapshot that holds the segment.

A committed segment never changes (writes add new segments; merges write new ones under new names), so a
searcher built over a segment, or its table of external ids, stays valid for every later snapshot that still
lists it; only the segments a snapshot drops are forgotten.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

from lexir.index.live import Snapshot
from lexir.index.reader import InvertedIndex
from lexir.search.results import Hits, RankedNums

T = TypeVar("T")
BULK_IDS = 256  # more hits than this in one segment: read (once) the segment's whole id table
TABLE_DOCS = 200_000  # a segment this small keeps its id table in memory (a few MB) instead of asking SQLite


class SegmentCache(Generic[T]):
    """One `make(index)` per segment, and external ids of document numbers, cached per segment name."""

    def __init__(self, make: Callable[[InvertedIndex], T]) -> None:
        self._make = make
        self._made: dict[str, tuple[InvertedIndex, T]] = {}
        self._ids: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def searcher(self, snapshot: Snapshot, name: str) -> T:
        index = snapshot.segments[name]
        made = self._made.get(name)
        if made is None or (made[0] is not index and made[0].path != index.path):
            with self._lock:
                self._forget_dropped(snapshot)
                made = self._made[name] = (index, self._make(index))
        return made[1]

    def ids(self, snapshot: Snapshot, name: str, nums: np.ndarray) -> np.ndarray:
        """External ids (a string array) of documents `nums` of segment `name`."""
        table = self._ids.get(name)
        if table is None and (len(nums) > BULK_IDS or snapshot.segments[name].num_docs <= TABLE_DOCS):
            table = self._ids[name] = np.asarray(snapshot.segments[name].docstore.all_ids(), dtype=object)
        if table is not None:
            return table[nums].astype(str)
        return np.asarray(snapshot.segments[name].docstore.ids(nums), dtype=str)

    def _forget_dropped(self, snapshot: Snapshot) -> None:
        for name in [name for name in self._made if name not in snapshot.segments]:
            del self._made[name]
            self._ids.pop(name, None)


def merged_hits(snapshot: Snapshot, ranked: dict[str, RankedNums], k: int, cache: SegmentCache) -> Hits:
    """The best k live hits of the segments' lists: tombstoned documents dropped, then by score, the older
    segment, the lower document number."""
    if len(ranked) == 1:  # the common case (no added segments): no merge
        name, one = next(iter(ranked.items()))
        nums, scores = one.nums, one.scores
        if len(snapshot.deleted[name]):
            alive = ~snapshot.is_deleted(name, nums)
            nums, scores = nums[alive], scores[alive]
        nums, scores = nums[:k], scores[:k]
        return Hits(cache.ids(snapshot, name, nums), scores, np.full(len(nums), name, dtype=object), nums)
    names = list(ranked)
    nums, scores = [], []
    for name, one in ranked.items():
        alive = ~snapshot.is_deleted(name, one.nums) if len(snapshot.deleted[name]) else slice(None)
        nums.append(one.nums[alive])
        scores.append(one.scores[alive])
    order_of = {name: i for i, name in enumerate(snapshot.segments)}
    positions = np.concatenate([np.full(len(one), order_of[name], dtype=np.int64) for name, one in zip(names, nums)])
    numbers, values = np.concatenate(nums), np.concatenate(scores)
    best = np.lexsort((numbers, positions, -values.astype(np.float64)))[:k]
    positions, numbers, values = positions[best], numbers[best], values[best]
    segment_names = list(snapshot.segments)
    segments = np.array([segment_names[position] for position in positions], dtype=object)
    keys = np.empty(len(best), dtype=object)
    for position in np.unique(positions):
        chosen = positions == position
        keys[chosen] = cache.ids(snapshot, segment_names[position], numbers[chosen])
    return Hits(keys.astype(str), values, segments, numbers)
