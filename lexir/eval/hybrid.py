"""Evaluating dense and fused systems: the sparse and/or dense sides of one or more index directories.

As in runner.py, every judged query is searched one at a time for latency (each retriever encodes and
ranks, then the lists are fused), then all at once for the run. With `tune_on`, the weights of two
retrievers are set to (1 - alpha, alpha) with alpha chosen from ALPHA_GRID on another split of the same
collection, by the first measure; the evaluated split never chooses it, and a split named test is never
tuned on. Index figures are summed over the retrievers: a sparse side counts its inverted index (terms,
postings, bytes), a dense side its FAISS folder (bytes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import lexir
from lexir.encoders.base import EncoderSpec
from lexir.errors import LexirError
from lexir.eval.datasets import EvalDataset, Topic
from lexir.eval.indexes import prepare_index
from lexir.eval.measures import DEFAULT_MEASURES, parse_measures, score_run
from lexir.eval.results import Efficiency, EvalResult, IndexStats
from lexir.eval.runner import DEFAULT_DEPTH, latency_figures, run_from_hits
from lexir.search.dense import DenseSearcher
from lexir.search.fusion import DEFAULT_FUSION_DEPTH, FusedRanking, Fusion
from lexir.search.hybrid import HybridSearcher, Retriever, open_retrievers

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


def evaluate_fused(dataset: EvalDataset, *, indexes: Sequence[Path], mode: str, fusion: Fusion | None = None,
                   measures: Sequence[str] = DEFAULT_MEASURES, depth: int = DEFAULT_DEPTH,
                   fusion_depth: int = DEFAULT_FUSION_DEPTH, drop_self_hits: bool | None = None,
                   progress: bool = True, query_weighting: str = "model",
                   query_options: dict[str, Any] | None = None, tune_on: EvalDataset | None = None) -> EvalResult:
    """Evaluate the `mode` retrievers of `indexes` (fused when there are several) on `dataset`."""
    parsed = parse_measures(measures)
    if depth < 1:
        raise LexirError(f"the run depth must be at least 1 hit per query, got {depth}")
    if tune_on is not None and fusion is not None and fusion.weights is not None:
        raise LexirError("give either fusion weights or a split to tune them on (--tune-on), not both")
    drop = dataset.is_beir if drop_self_hits is None else drop_self_hits
    for path in indexes:
        prepare_index(dataset, index=path)  # a readable index; warns when it holds another collection
    retrievers = open_retrievers(indexes, mode, query_weighting=query_weighting, query_options=query_options)
    try:
        searcher = HybridSearcher(retrievers, fusion, depth=fusion_depth)
        k = depth + 1 if drop else depth
        tuning = None
        if tune_on is not None:
            tuning = tune_alpha(searcher, tune_on, dataset, str(parsed[0]), k, depth, drop)
            searcher = HybridSearcher(retrievers, _with_alpha(searcher.fusion, tuning.best_alpha), depth=fusion_depth)
        topics = [topic for topic in dataset.topics if topic.text.strip()]
        latencies, batch_seconds, fused = _search_all(searcher, topics, k, progress)
        run = run_from_hits(topics, [_hits(ranking) for ranking in fused], depth, drop)
        for topic in dataset.topics:
            run.setdefault(topic.query_id, [])
        aggregate, per_query = score_run(run, dataset.qrels, parsed, [t.query_id for t in dataset.topics])
        index_bytes = sum(_bytes(retriever) for retriever in retrievers.values())
        return EvalResult(
            dataset=dataset.name, encoder=_system(searcher), index=_index_stats(indexes, retrievers, index_bytes),
            measures=aggregate, per_query=per_query,
            efficiency=Efficiency(built_now=False, build_seconds=None, encode_docs_per_second=None,
                                  **latency_figures(latencies, batch_seconds), index_bytes=index_bytes,
                                  mean_doc_nonzeros=None, mean_query_nonzeros=None, mean_postings_touched=None),
            depth=depth, drop_self_hits=drop, num_queries=len(dataset.topics), lexir_version=lexir.__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            run={topic.query_id: run[topic.query_id] for topic in dataset.topics},
            query={"mode": mode, "weighting": query_weighting, "options": dict(query_options or {}),
                   "fusion": searcher.fusion.to_dict() if searcher.fusion else None,
                   "fusion_depth": fusion_depth if searcher.fusion else None,
                   "tuning": tuning.to_dict() if tuning else None},
        )
    finally:
        for retriever in retrievers.values():
            retriever.index.close()


def tune_alpha(searcher: HybridSearcher, tune_on: EvalDataset, evaluated: EvalDataset, measure: str, k: int,
               depth: int, drop: bool) -> Tuning:
    """Sweep the second retriever's weight alpha over ALPHA_GRID on `tune_on`; the best alpha (first on ties)."""
    _check_tuning_split(tune_on, evaluated, len(searcher.retrievers))
    topics = [topic for topic in tune_on.topics if topic.text.strip()]
    lists = searcher.ranked_lists([topic.text for topic in topics], k) if topics else []
    query_ids = [topic.query_id for topic in tune_on.topics]
    values = []
    for alpha in ALPHA_GRID:
        fusion = _with_alpha(searcher.fusion, alpha)
        run = run_from_hits(topics, [_hits(searcher.combine(one, k, fusion)) for one in lists], depth, drop)
        aggregate, _ = score_run(run, tune_on.qrels, parse_measures([measure]), query_ids)
        values.append((alpha, aggregate[measure]))
    best_alpha = max(values, key=lambda pair: pair[1])[0]
    return Tuning(tune_on.name, measure, values, best_alpha)


def _check_tuning_split(tune_on: EvalDataset, evaluated: EvalDataset, retrievers: int) -> None:
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


def _with_alpha(fusion: Fusion | None, alpha: float) -> Fusion:
    return replace(fusion or Fusion(), weights=(round(1.0 - alpha, 10), alpha))


def _search_all(searcher: HybridSearcher, topics: list[Topic], k: int, progress: bool
                ) -> tuple[list[float], float, list[FusedRanking]]:
    """Latencies of the one-at-a-time pass (after a warm-up query), then the batched pass and its time."""
    if not topics:
        return [], 0.0, []
    texts = [topic.text for topic in topics]
    searcher.warm_up()
    searcher.search_one(texts[0], k)
    latencies = []
    for text in tqdm(texts, desc="queries", unit="q", disable=not progress):
        started = time.perf_counter()
        searcher.search_one(text, k)
        latencies.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    fused = searcher.search_batch(texts, k)
    return latencies, time.perf_counter() - started, fused


def _hits(ranking: FusedRanking) -> list[tuple[str, float]]:
    return [(str(key), float(score)) for key, score in zip(ranking.keys, ranking.scores)]


def _spec(retriever: Retriever) -> EncoderSpec:
    if isinstance(retriever, DenseSearcher):
        return retriever.dense.manifest.encoder
    return retriever.index.manifest.encoder


def _bytes(retriever: Retriever) -> int:
    return retriever.dense.size_bytes() if isinstance(retriever, DenseSearcher) else retriever.index.size_bytes()


def _system(searcher: HybridSearcher) -> dict[str, Any]:
    """The encoder entry of the result: the one retriever's spec, or a description of the fused system."""
    specs = {label: _spec(retriever) for label, retriever in searcher.retrievers.items()}
    if searcher.fusion is None:
        return next(iter(specs.values())).to_dict()
    name = f"{searcher.fusion.method}(" + " + ".join(spec.name for spec in specs.values()) + ")"
    return {"name": name, "kind": "fused", "retrievers": {label: spec.to_dict() for label, spec in specs.items()},
            "fusion": searcher.fusion.to_dict()}


def _index_stats(indexes: Sequence[Path], retrievers: dict[str, Retriever], index_bytes: int) -> IndexStats:
    sparse = [r.index.manifest for r in retrievers.values() if not isinstance(r, DenseSearcher)]
    first = next(iter(retrievers.values())).index
    return IndexStats(path=", ".join(str(path) for path in indexes), docs=first.num_docs,
                      terms=sum(m.num_terms for m in sparse), postings=sum(m.num_postings for m in sparse),
                      bytes=index_bytes)
