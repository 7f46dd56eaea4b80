"""Choosing the fusion weights of two or more retrievers on another split of the same collection.

Two retrievers: the weights are set to (1 - alpha, alpha), alpha from ALPHA_GRID (every point tried). More:
coordinate ascent from equal weights, each retriever's weight in turn set to the best of WEIGHT_GRID with the
others held, in rounds until a round changes nothing (at most MAX_ROUNDS); the chosen weights are reported
scaled to sum 1 (both fusion methods rank the same under a common scale). Every choice is made by the first
measure on the tuning split, each list searched once; the evaluated split never chooses, and a split named
test is never tuned on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lexir.errors import LexirError
from lexir.eval.datasets import EvalDataset
from lexir.eval.measures import parse_measures, score_run
from lexir.eval.runs import ranking_hits, run_from_hits
from lexir.search import Searcher
from lexir.search.fusion import Fusion, FusionTable

ALPHA_GRID = tuple(round(0.05 * step, 2) for step in range(21))
WEIGHT_GRID = tuple(round(0.1 * step, 1) for step in range(11))
MAX_ROUNDS = 5

Weights = tuple[float, ...]


@dataclass(frozen=True)
class Tuning:
    """The weight search on the tuning split: (alpha or weights, measure value) per point tried, and the chosen
    weights (with two retrievers, also the chosen alpha)."""

    split: str
    measure: str
    values: list[tuple[Any, float]]
    best_weights: Weights
    best_alpha: float | None = None

    def to_dict(self) -> dict[str, Any]:
        values = [[list(point) if isinstance(point, tuple) else point, value] for point, value in self.values]
        return {"split": self.split, "measure": self.measure, "best_alpha": self.best_alpha,
                "best_weights": list(self.best_weights), "values": values}


def tune_weights(searcher: Searcher, tune_on: EvalDataset, evaluated: EvalDataset, measure: str, depth: int,
                 drop: bool) -> Tuning:
    """The fusion weights that score best on `tune_on` (see the module docstring; the first best on ties)."""
    count = len(searcher.retrievers)
    check_tuning_split(tune_on, evaluated, count)
    k = depth + 1 if drop else depth
    topics = [topic for topic in tune_on.topics if topic.searchable]
    lists = searcher.lists([topic.query for topic in topics], k) if topics else []
    tables = [FusionTable(one, searcher.fusion or Fusion()) for one in lists]  # what no weight changes, once
    query_ids = [topic.query_id for topic in tune_on.topics]

    def score(weights: Weights) -> float:
        vector = with_weights(searcher.fusion, weights).weights_for(count)
        run = run_from_hits(topics, [ranking_hits(table.rank(vector, k)) for table in tables], depth, drop)
        aggregate, _ = score_run(run, tune_on.qrels, parse_measures([measure]), query_ids)
        return aggregate[measure]

    if count == 2:
        values = [(alpha, score(alpha_weights(alpha))) for alpha in ALPHA_GRID]
        best_alpha = max(values, key=lambda pair: pair[1])[0]
        return Tuning(tune_on.name, measure, values, alpha_weights(best_alpha), best_alpha)
    tried = coordinate_ascent(score, count)
    best = max(tried.items(), key=lambda item: item[1])[0]
    return Tuning(tune_on.name, measure, list(tried.items()), scaled(best))


def coordinate_ascent(score: Callable[[Weights], float], count: int) -> dict[Weights, float]:
    """Every weight vector tried (in order) and its score: from equal weights, each coordinate in turn moved to
    the best of WEIGHT_GRID while it strictly improves, round after round until a round changes nothing."""
    tried: dict[Weights, float] = {}

    def value(weights: Weights) -> float:
        if weights not in tried:
            tried[weights] = score(weights)
        return tried[weights]

    best: Weights = (1.0,) * count
    value(best)
    for _ in range(MAX_ROUNDS):
        start = best
        for position in range(count):
            for weight in WEIGHT_GRID:
                candidate = best[:position] + (weight,) + best[position + 1:]
                if sum(candidate) > 0 and value(candidate) > value(best):
                    best = candidate
        if best == start:
            break
    return tried


def scaled(weights: Weights) -> Weights:
    """Weights scaled to sum 1 (rounded to 4 places)."""
    total = sum(weights)
    return tuple(round(weight / total, 4) for weight in weights)


def alpha_weights(alpha: float) -> Weights:
    return (round(1.0 - alpha, 10), alpha)


def check_tuning_split(tune_on: EvalDataset, evaluated: EvalDataset, retrievers: int) -> None:
    if retrievers < 2:
        raise LexirError(f"tuning chooses the weights of fused retrievers, this run has {retrievers}; use "
                         "--mode hybrid, or give several indexes")
    if tune_on.name == evaluated.name:
        raise LexirError(f"cannot tune on {tune_on.name}, the split being evaluated; tune on another split "
                         "(e.g. beir/nfcorpus/dev when evaluating beir/nfcorpus/test)")
    if tune_on.name.endswith(("/test", "(test)")):
        raise LexirError(f"refusing to tune on {tune_on.name}: a test split is for reporting, not for choosing "
                         "settings; tune on a dev or train split")
    if tune_on.corpus_key != evaluated.corpus_key:
        raise LexirError(f"{tune_on.name} is a split of another collection than {evaluated.name}; tune on a split "
                         "of the same collection (the same indexes are searched)")


def with_weights(fusion: Fusion | None, weights: Weights) -> Fusion:
    return replace(fusion or Fusion(), weights=weights)
