"""Run every judged query of a dataset through a Searcher, time it, and score the run: the one evaluate path
for sparse, dense, hybrid and fused systems alike.

Each query is searched twice after a warm-up (which loads models and compiles the kernels): one at a time
(encode + single-threaded top-k, fused where several retrievers are searched) for latency, then all at once
(one encoding pass per retriever, multi-threaded scoring) for throughput; the run comes from the batched
pass. Hits are listed as trec_eval reads them (score descending, ties by document id descending), so
`trec_eval run.trec` and ir_measures score exactly the lists in the file. For BEIR datasets a hit whose
document id equals the query id is dropped (BEIR's evaluation does the same, for collections whose queries
are also documents). With `tune_on`, the fusion weights of several retrievers are chosen on another split first
(eval/tuning.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import lexir
from lexir.encoders.device import resolve_device
from lexir.errors import LexirError
from lexir.eval.datasets import EvalDataset, Topic
from lexir.eval.indexes import PreparedIndex, prepare_index, prepare_preset_index
from lexir.eval.measures import DEFAULT_MEASURES, parse_measures, score_run
from lexir.eval.results import Efficiency, EvalResult, IndexStats
from lexir.eval.runs import Run, search_topics
from lexir.eval.tuning import tune_weights, with_weights
from lexir.presets import Preset
from lexir.search import Searcher, SearchOptions, open_search
from lexir.search.conversation import DEFAULT_MAX_HISTORY, flatten_topics

DEFAULT_DEPTH = 1000


@dataclass(frozen=True)
class _Timings:
    latencies_ms: list[float]
    batch_seconds: float
    query_nonzeros: list[int]
    postings_touched: list[int]


def evaluate(dataset: EvalDataset, *, encoder: str | None = None, index: Path | Sequence[Path] | None = None,
             options: SearchOptions | None = None, measures: Sequence[str] = DEFAULT_MEASURES,
             depth: int = DEFAULT_DEPTH, drop_self_hits: bool | None = None, cache: Path | None = None,
             progress: bool = True, tune_on: EvalDataset | None = None, preset: Preset | None = None,
             max_history: int = DEFAULT_MAX_HISTORY, device: str | None = None) -> EvalResult:
    """Evaluate one encoder (on the cached index it builds or reuses) or existing indexes on `dataset`.

    `options` say how to search (mode, weighting, algorithm, fusion, ...) and are recorded in the result;
    `drop_self_hits` defaults to the dataset's convention (on for BEIR, off otherwise). A `preset` gives the
    options and, without `index`, the cached indexes it needs (presets.py). Conversational topics (with a
    history) are searched as their flattened conversation, at most `max_history` earlier turns. Models (of
    the indexes built here, and of the query encoders) run on `device` (cpu by default).
    """
    if preset is not None:
        if encoder is not None:
            raise LexirError(f"the preset {preset.name} names its own encoders; give --preset or --encoder, not both")
        options = preset.options
    options = options or SearchOptions()
    parsed = parse_measures(measures)
    if depth < 1:
        raise LexirError(f"the run depth must be at least 1 hit per query, got {depth}")
    indexes = [index] if isinstance(index, (str, Path)) else list(index or [])
    if encoder is not None and indexes:
        raise LexirError("give either an encoder (to build or reuse a cached index) or --index, not both")
    if not indexes and options.mode != "sparse" and preset is None:
        raise LexirError("dense and hybrid runs search existing indexes: give --index DIR with a dense side "
                         "(`lexir index build ... --dense minilm`), not --encoder")
    if tune_on is not None and options.fusion is not None and options.fusion.weights is not None:
        raise LexirError("give either fusion weights or a split to tune them on (--tune-on), not both")
    drop = dataset.is_beir if drop_self_hits is None else drop_self_hits
    if device is not None:
        resolve_device(device)  # a GPU this machine lacks is said before any index is built
    prepared = [prepare_index(dataset, index=path) for path in indexes]
    if preset is not None and prepared:
        from lexir.presets import warn_index_differences

        for one in prepared:
            warn_index_differences(preset, one.path)
    if not prepared:
        prepared = [prepare_preset_index(dataset, preset, cache=cache, progress=progress, device=device)
                    if preset is not None
                    else prepare_index(dataset, encoder_name=encoder, cache=cache, progress=progress, device=device)]
    searcher = open_search([one.path for one in prepared], options, device=device)
    try:
        tuning = None
        if tune_on is not None:
            tuning = tune_weights(searcher, tune_on, dataset, str(parsed[0]), depth, drop)
            searcher = searcher.using(options.replace(fusion=with_weights(searcher.fusion, tuning.best_weights)))
        topics = flatten_topics(dataset.topics, searcher, max_history)
        timings, run = _search_all(searcher, topics, depth, drop, progress)
        aggregate, per_query = score_run(run, dataset.qrels, parsed, [t.query_id for t in dataset.topics])
        query = {**searcher.options.to_dict(), "preset": preset.name if preset is not None else None,
                 "idf_source": _idf_source(searcher),
                 "tuning": tuning.to_dict() if tuning else None}
        return EvalResult(
            dataset=dataset.name, encoder=searcher.describe(), index=_index_stats(searcher, prepared),
            measures=aggregate, per_query=per_query, efficiency=_efficiency(searcher, prepared, timings),
            depth=depth, drop_self_hits=drop, num_queries=len(dataset.topics), lexir_version=lexir.__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            run=run, query=query,
        )
    finally:
        searcher.close()


def _search_all(searcher: Searcher, topics: Sequence[Topic], depth: int, drop: bool, progress: bool
                ) -> tuple[_Timings, Run]:
    """Time the one-at-a-time pass (after a warm-up query), then the batched pass whose run is returned."""
    texts = [topic.query for topic in topics if topic.searchable]  # texts, or pre-encoded vectors
    if not texts:
        return _Timings([], 0.0, [], []), {topic.query_id: [] for topic in topics}
    k = depth + 1 if drop else depth
    searcher.warm_up()
    searcher.rank_one(texts[0], k)
    searcher.rank(texts[:1], k)
    latencies = []
    for text in tqdm(texts, desc="queries", unit="q", disable=not progress):
        started = time.perf_counter()
        searcher.rank_one(text, k)
        latencies.append((time.perf_counter() - started) * 1000)
    figures = searcher.queries_figures(texts) or []  # encoded again in one batch, not query by query
    nonzeros, touched = [one[0] for one in figures], [one[1] for one in figures]
    started = time.perf_counter()
    run = search_topics(searcher, topics, depth, drop, batch=None)
    return _Timings(latencies, time.perf_counter() - started, nonzeros, touched), run


def _idf_source(searcher: Searcher) -> str | None:
    """Where an inference-free index's query IDF came from (None for other encoders)."""
    sparse = [retriever for retriever in searcher.retrievers.values() if retriever.kind == "sparse"]
    return getattr(sparse[0].encoder, "idf_source", None) if len(sparse) == 1 else None


def _index_stats(searcher: Searcher, prepared: list[PreparedIndex]) -> IndexStats:
    """Documents of the first index; terms and postings summed over the sparse sides; bytes of all searched."""
    terms = postings = 0
    for retriever in searcher.retrievers.values():
        if retriever.kind == "sparse":
            segments = retriever.live.snapshot().segments.values()
            terms += retriever.live.snapshot().base.num_terms
            postings += sum(segment.manifest.num_postings for segment in segments)
    return IndexStats(path=", ".join(str(one.path) for one in prepared), docs=searcher.num_docs, terms=terms,
                      postings=postings, bytes=searcher.size_bytes())


def latency_figures(latencies_ms: Sequence[float], batch_seconds: float) -> dict[str, float | None]:
    """Mean, p50 and p99 latency of the one-at-a-time pass and QPS of the batched pass (None if no queries)."""
    latencies = np.asarray(latencies_ms, dtype=np.float64)
    measured = latencies.size > 0
    return {
        "latency_ms_mean": float(latencies.mean()) if measured else None,
        "latency_ms_p50": float(np.percentile(latencies, 50)) if measured else None,
        "latency_ms_p99": float(np.percentile(latencies, 99)) if measured else None,
        "batch_qps": latencies.size / batch_seconds if measured and batch_seconds > 0 else None,
    }


def _efficiency(searcher: Searcher, prepared: list[PreparedIndex], timings: _Timings) -> Efficiency:
    single = prepared[0] if len(prepared) == 1 and len(searcher.retrievers) == 1 else None
    return Efficiency(
        built_now=bool(single and single.built_now), build_seconds=single.build_seconds if single else None,
        encode_docs_per_second=single.encode_docs_per_second if single else None,
        **latency_figures(timings.latencies_ms, timings.batch_seconds), index_bytes=searcher.size_bytes(),
        mean_doc_nonzeros=searcher.mean_doc_nonzeros(),
        mean_query_nonzeros=float(np.mean(timings.query_nonzeros)) if timings.query_nonzeros else None,
        mean_postings_touched=float(np.mean(timings.postings_touched)) if timings.postings_touched else None,
    )
