"""Fusing ranked lists from several retrievers into one: pure functions over arrays.

Two methods:
- `rrf`, reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): a document scores
  Σ_i w_i / (k + rank_i), rank from 1, k = 60; a list that misses the document adds nothing.
- `convex`, a convex combination of normalized scores (Bruch, Gai & Ingber, TOIS 2023):
  Σ_i w_i · norm_i(score), with each list's scores min-max scaled to [0, 1] or z-scored; a list
  that misses the document counts it at that list's lowest normalized score (as if it were that
  list's last hit). A list whose scores are all equal carries no order and normalizes to zeros.
A list of weight 0 is left out entirely, so weights (1, 0) give exactly the first list's ranking.
Ties in the fused score go to the smaller document key, so fusion is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lexir.errors import LexirError

FUSION_METHODS = ("rrf", "convex")
NORMALIZATIONS = ("minmax", "zscore")
RRF_K = 60
DEFAULT_FUSION_DEPTH = 100  # hits taken from each retriever before fusing


@dataclass(frozen=True)
class Ranking:
    """One retriever's hits for one query, best first: document keys (ids) and their scores."""

    keys: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class FusedRanking:
    """The fused hits, best first; `parts[i, j]` is list j's share of hit i's fused score."""

    keys: np.ndarray
    scores: np.ndarray
    parts: np.ndarray


@dataclass(frozen=True)
class Fusion:
    """How to fuse: the method, one weight per list (None: all equal), the normalization, RRF's k."""

    method: str = "rrf"
    weights: tuple[float, ...] | None = None
    normalization: str = "minmax"
    rrf_k: int = RRF_K

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise LexirError(f"unknown fusion method {self.method!r}; use one of {', '.join(FUSION_METHODS)}")
        if self.normalization not in NORMALIZATIONS:
            raise LexirError(f"unknown score normalization {self.normalization!r}; use one of "
                             f"{', '.join(NORMALIZATIONS)}")
        if self.rrf_k < 0:
            raise LexirError(f"RRF's k must not be negative, got {self.rrf_k}")
        if self.weights is not None:
            weights = np.asarray(self.weights, dtype=np.float64)
            if weights.size == 0 or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() == 0:
                raise LexirError(f"fusion weights must be non-negative numbers, not all zero; got {self.weights}")

    def weights_for(self, count: int) -> np.ndarray:
        """The weight of each of `count` lists (equal when none were given)."""
        if self.weights is None:
            return np.full(count, 1.0 if self.method == "rrf" else 1.0 / count)
        if len(self.weights) != count:
            raise LexirError(f"{len(self.weights)} fusion weights were given for {count} retrievers; give one "
                             "weight per retriever, in order (for one index in hybrid mode: sparse, dense)")
        return np.asarray(self.weights, dtype=np.float64)

    def to_dict(self) -> dict[str, object]:
        weights = list(self.weights) if self.weights is not None else None
        if self.method == "rrf":
            return {"method": self.method, "weights": weights, "rrf_k": self.rrf_k}
        return {"method": self.method, "weights": weights, "normalization": self.normalization}


def normalize(scores: np.ndarray, method: str) -> np.ndarray:
    """Scores scaled to [0, 1] (minmax) or to zero mean and unit deviation (zscore); constant lists -> 0."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    if method == "minmax":
        low, spread = scores.min(), scores.max() - scores.min()
    elif method == "zscore":
        low, spread = scores.mean(), scores.std()
    else:
        raise LexirError(f"unknown score normalization {method!r}; use one of {', '.join(NORMALIZATIONS)}")
    return (scores - low) / spread if spread > 0 else np.zeros_like(scores)


def reciprocal_ranks(count: int, k: int = RRF_K) -> np.ndarray:
    """1 / (k + rank) for ranks 1..count."""
    return 1.0 / (k + np.arange(1, count + 1, dtype=np.float64))


def fuse(rankings: Sequence[Ranking], fusion: Fusion, depth: int | None = None) -> FusedRanking:
    """Fuse the lists of one query into one ranking (its best `depth` hits, or all)."""
    return FusionTable(rankings, fusion).rank(fusion.weights_for(len(rankings)), depth)


class FusionTable:
    """One query's lists laid out for fusion under any weights, so that a weight search (`--tune-on`) computes
    the union of their keys and their normalized values once per query, not once per weight vector.

    Row i is document `keys[i]` (sorted), column j list j: its normalized score or reciprocal rank there, or the
    list's floor for a document it misses (see the module docstring); `present` marks what each list holds.
    """

    def __init__(self, rankings: Sequence[Ranking], fusion: Fusion) -> None:
        if not rankings:
            raise LexirError("fusion needs at least one ranked list")
        for ranking in rankings:
            _check_ranking(ranking)
        lists = [np.asarray(ranking.keys) for ranking in rankings]
        self.keys = np.unique(np.concatenate(lists))
        self.values = np.zeros((self.keys.size, len(rankings)), dtype=np.float64)
        self.present = np.zeros((self.keys.size, len(rankings)), dtype=bool)
        for j, (ranking, keys) in enumerate(zip(rankings, lists)):
            if fusion.method == "rrf":
                values, floor = reciprocal_ranks(keys.size, fusion.rrf_k), 0.0
            else:
                values = normalize(ranking.scores, fusion.normalization)
                floor = float(values.min()) if values.size else 0.0
            rows = np.searchsorted(self.keys, keys)
            self.values[:, j] = floor
            self.values[rows, j] = values
            self.present[rows, j] = True

    def rank(self, weights: np.ndarray, depth: int | None = None) -> FusedRanking:
        """The best `depth` hits under `weights` (one per list): a weighted sum per document over the lists of
        non-zero weight, documents that only lists of weight 0 hold left out."""
        weights = np.asarray(weights, dtype=np.float64)
        used = weights > 0
        if used.all():
            keys, parts = self.keys, self.values * weights
        else:
            rows = self.present[:, used].any(axis=1)
            keys, parts = self.keys[rows], self.values[rows] * weights
            parts[:, ~used] = 0.0  # not -0.0 where a value is negative
        scores = parts.sum(axis=1)
        order = np.argsort(-scores, kind="stable")[:depth]  # keys are sorted, so ties keep the smaller key first
        return FusedRanking(keys[order], scores[order], parts[order])


def _check_ranking(ranking: Ranking) -> None:
    keys = np.asarray(ranking.keys)
    if keys.ndim != 1 or keys.shape != np.shape(ranking.scores):
        raise LexirError(f"a ranked list has {keys.size} keys but {np.size(ranking.scores)} scores")
    if np.unique(keys).size != keys.size:
        raise LexirError("a ranked list holds the same document twice")
