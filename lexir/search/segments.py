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
        if made is None or made[0].path != index.path:
            with self._lock:
                self._forget_dropped(snapshot)
                made = self._made[name] = (index, self._make(index))
        return made[1]

    def ids(self, snapshot: Snapshot, segments: np.ndarray, nums: np.ndarray) -> np.ndarray:
        """External ids of the documents (segment name, number), as a string array in the same order."""
        keys = np.empty(len(nums), dtype=object)
        for name in dict.fromkeys(segments.tolist()):
            chosen = segments == name
            table = self._ids.get(name)
            if table is None and int(chosen.sum()) > BULK_IDS:
                table = self._ids[name] = np.asarray(snapshot.segments[name].docstore.all_ids(), dtype=object)
            wanted = nums[chosen]
            keys[chosen] = table[wanted] if table is not None else snapshot.segments[name].docstore.ids(wanted)
        return keys.astype(str) if len(keys) else np.empty(0, dtype=str)

    def _forget_dropped(self, snapshot: Snapshot) -> None:
        for name in [name for name in self._made if name not in snapshot.segments]:
            del self._made[name]
            self._ids.pop(name, None)


def merged_hits(snapshot: Snapshot, ranked: dict[str, RankedNums], k: int, cache: SegmentCache) -> Hits:
    """The best k live hits of the segments' lists: tombstoned documents dropped, then by score, the older
    segment, the lower document number (a single list with no tombstones is taken as it is)."""
    names, nums, scores = [], [], []
    for name, one in ranked.items():
        alive = ~snapshot.is_deleted(name, one.nums) if len(snapshot.deleted[name]) else slice(None)
        nums.append(one.nums[alive])
        scores.append(np.asarray(one.scores[alive], dtype=np.float32))
        names.append(np.full(len(nums[-1]), name, dtype=object))
    if len(ranked) == 1:
        segments, numbers, values = names[0][:k], nums[0][:k], scores[0][:k]
    else:
        segments, numbers, values = np.concatenate(names), np.concatenate(nums), np.concatenate(scores)
        order_of = {name: i for i, name in enumerate(snapshot.segments)}
        positions = np.array([order_of[name] for name in segments], dtype=np.int64)
        best = np.lexsort((numbers, positions, -values.astype(np.float64)))[:k]
        segments, numbers, values = segments[best], numbers[best], values[best]
    return Hits(cache.ids(snapshot, segments, numbers), values, segments, numbers)
