"""Choosing the fusion weights of two retrievers on another split of the same collection.

The weights are set to (1 - alpha, alpha), alpha from ALPHA_GRID, by the first measure on the tuning split;
the evaluated split never chooses it, and a split named test is never tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lexir.errors import LexirError
from lexir.eval.datasets import EvalDataset
from lexir.eval.measures import parse_measures, score_run
from lexir.eval.runs import ranking_hits, run_from_hits
from lexir.search import Searcher
from lexir.search.fusion import Fusion

ALPHA_GRID = tuple(round(0.05 * step, 2) for step in range(21))


@dataclass(frozen=True)
class Tuning:
    """The alpha sweep on the tuning split: (alpha, measure value) per grid point, and the chosen alpha."""

    split: str
    measure: str
    values: list[tuple[float, float]]
    best_alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "measure": self.measure, "best_alpha": self.best_alpha,
                "values": [list(pair) for pair in self.values]}


def tune_alpha(searcher: Searcher, tune_on: EvalDataset, evaluated: EvalDataset, measure: str, depth: int,
               drop: bool) -> Tuning:
    """Sweep the second retriever's weight alpha over ALPHA_GRID on `tune_on`; the best alpha (first on ties)."""
    check_tuning_split(tune_on, evaluated, len(searcher.retrievers))
    k = depth + 1 if drop else depth
    topics = [topic for topic in tune_on.topics if topic.searchable]
    lists = searcher.lists([topic.query for topic in topics], k) if topics else []
    query_ids = [topic.query_id for topic in tune_on.topics]
    values = []
    for alpha in ALPHA_GRID:
        fusion = with_alpha(searcher.fusion, alpha)
        run = run_from_hits(topics, [ranking_hits(searcher.combine(one, k, fusion)) for one in lists], depth, drop)
        aggregate, _ = score_run(run, tune_on.qrels, parse_measures([measure]), query_ids)
        values.append((alpha, aggregate[measure]))
    best_alpha = max(values, key=lambda pair: pair[1])[0]
    return Tuning(tune_on.name, measure, values, best_alpha)


def check_tuning_split(tune_on: EvalDataset, evaluated: EvalDataset, retrievers: int) -> None:
    if retrievers != 2:
        raise LexirError(f"tuning sweeps the weight between two retrievers, this run has {retrievers}; "
                         "use --mode hybrid with one index, or two indexes in one mode")
    if tune_on.name == evaluated.name:
        raise LexirError(f"cannot tune on {tune_on.name}, the split being evaluated; tune on another split "
                         "(e.g. beir/nfcorpus/dev when evaluating beir/nfcorpus/test)")
    if tune_on.name.endswith(("/test", "(test)")):
        raise LexirError(f"refusing to tune on {tune_on.name}: a test split is for reporting, not for choosing "
                         "settings; tune on a dev or train split")
    if tune_on.corpus_key != evaluated.corpus_key:
        raise LexirError(f"{tune_on.name} is a split of another collection than {evaluated.name}; tune on a split "
                         "of the same collection (the same indexes are searched)")


def with_alpha(fusion: Fusion | None, alpha: float) -> Fusion:
    return replace(fusion or Fusion(), weights=(round(1.0 - alpha, 10), alpha))
