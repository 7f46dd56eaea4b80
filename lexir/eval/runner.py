"""Run every judged query of a dataset against an index, time it, and score the run.

Each query is searched twice after a warm-up (which compiles the kernels): one at a time
(encode + single-threaded top-k) for latency, then all at once (one encoding pass,
multi-threaded scoring) for throughput; the run comes from the batched pass. Hits are
listed as trec_eval reads them (score descending, ties by document id descending), so
`trec_eval run.trec` and ir_measures score exactly the lists in the file. For BEIR
datasets a hit whose document id equals the query id is dropped (BEIR's evaluation does
the same, for collections whose queries are also documents).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

import lexir
from lexir.errors import LexirError
from lexir.eval.datasets import EvalDataset, Topic
from lexir.eval.indexes import PreparedIndex, prepare_index
from lexir.eval.measures import DEFAULT_MEASURES, parse_measures, score_run
from lexir.eval.results import Efficiency, EvalResult, IndexStats
from lexir.search import RankedNums, Searcher

DEFAULT_DEPTH = 1000


@dataclass(frozen=True)
class _Timings:
    latencies_ms: list[float]
    batch_seconds: float
    query_nonzeros: list[int]
    postings_touched: list[int]


def evaluate(dataset: EvalDataset, *, encoder: str | None = None, index: Path | None = None,
             measures: Sequence[str] = DEFAULT_MEASURES, depth: int = DEFAULT_DEPTH,
             drop_self_hits: bool | None = None, cache: Path | None = None, progress: bool = True,
             query_weighting: str = "model", query_options: dict[str, Any] | None = None) -> EvalResult:
    """Evaluate one encoder (or one existing index) on `dataset`.

    `drop_self_hits` defaults to the dataset's convention (on for BEIR, off otherwise);
    `query_weighting` and `query_options` are passed to the Searcher and recorded in the result.
    """
    parsed = parse_measures(measures)
    if depth < 1:
        raise LexirError(f"the run depth must be at least 1 hit per query, got {depth}")
    drop = dataset.is_beir if drop_self_hits is None else drop_self_hits
    prepared = prepare_index(dataset, encoder_name=encoder, index=index, cache=cache, progress=progress)
    searcher = Searcher(prepared.path, query_weighting=query_weighting, query_options=query_options)
    try:
        topics = [topic for topic in dataset.topics if topic.text.strip()]
        k = depth + 1 if drop else depth
        timings, ranked = _search_all(searcher, topics, k, progress)
        run = _run(searcher, topics, ranked, depth, drop)
        for topic in dataset.topics:
            run.setdefault(topic.query_id, [])
        aggregate, per_query = score_run(run, dataset.qrels, parsed, [t.query_id for t in dataset.topics])
        return EvalResult(
            dataset=dataset.name, encoder=searcher.index.manifest.encoder.to_dict(),
            index=_index_stats(searcher), measures=aggregate, per_query=per_query,
            efficiency=_efficiency(searcher, prepared, timings), depth=depth, drop_self_hits=drop,
            num_queries=len(dataset.topics), lexir_version=lexir.__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            run={topic.query_id: run[topic.query_id] for topic in dataset.topics},
            query={"weighting": query_weighting, "options": dict(query_options or {}),
                   "idf_source": getattr(searcher.encoder, "idf_source", None)},
        )
    finally:
        searcher.index.close()


def _search_all(searcher: Searcher, topics: list[Topic], k: int, progress: bool
                ) -> tuple[_Timings, list[RankedNums]]:
    """Time the one-at-a-time pass, then the batched pass whose results are returned."""
    if not topics:
        return _Timings([], 0.0, [], []), []
    texts = [topic.text for topic in topics]
    warm = searcher.encode(texts[:1])
    searcher.rank_one(warm, k)
    searcher.rank(warm, k)
    latencies, nonzeros, touched = [], [], []
    doc_freq = searcher.index.doc_freq
    for text in tqdm(texts, desc="queries", unit="q", disable=not progress):
        started = time.perf_counter()
        vector = searcher.encode([text])
        searcher.rank_one(vector, k)
        latencies.append((time.perf_counter() - started) * 1000)
        terms = _nonzero_terms(vector)
        nonzeros.append(int(terms.size))
        touched.append(int(doc_freq[terms].sum()))
    started = time.perf_counter()
    ranked = searcher.rank(searcher.encode(texts), k)
    batch_seconds = time.perf_counter() - started
    return _Timings(latencies, batch_seconds, nonzeros, touched), ranked


def _nonzero_terms(vector: sp.csr_matrix) -> np.ndarray:
    return vector.indices[vector.data > 0].astype(np.int64)


def _run(searcher: Searcher, topics: list[Topic], ranked: list[RankedNums], depth: int, drop: bool
         ) -> dict[str, list[tuple[str, float]]]:
    ids = searcher.index.docstore.all_ids()
    hits = [[(ids[num], float(score)) for num, score in zip(result.nums, result.scores)] for result in ranked]
    return run_from_hits(topics, hits, depth, drop)


def run_from_hits(topics: Sequence[Topic], hits_per_topic: Sequence[list[tuple[str, float]]], depth: int,
                  drop: bool) -> dict[str, list[tuple[str, float]]]:
    """Each topic's (doc id, score) hits, best first, as run lists: self-hits dropped if `drop`, cut to
    `depth`, in trec_eval's order."""
    run = {}
    for topic, hits in zip(topics, hits_per_topic):
        if drop:
            hits = [hit for hit in hits if hit[0] != topic.query_id]
        hits = hits[:depth]
        hits.sort(key=lambda hit: (hit[1], hit[0]), reverse=True)
        run[topic.query_id] = hits
    return run


def _index_stats(searcher: Searcher) -> IndexStats:
    manifest = searcher.index.manifest
    return IndexStats(path=str(searcher.index.path), docs=manifest.num_docs, terms=manifest.num_terms,
                      postings=manifest.num_postings, bytes=searcher.index.size_bytes())


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


def _efficiency(searcher: Searcher, prepared: PreparedIndex, timings: _Timings) -> Efficiency:
    measured = len(timings.latencies_ms) > 0
    return Efficiency(
        built_now=prepared.built_now, build_seconds=prepared.build_seconds,
        encode_docs_per_second=prepared.encode_docs_per_second,
        **latency_figures(timings.latencies_ms, timings.batch_seconds),
        index_bytes=searcher.index.size_bytes(),
        mean_doc_nonzeros=float(np.mean(searcher.index.doc_nnz)) if searcher.index.num_docs else 0.0,
        mean_query_nonzeros=float(np.mean(timings.query_nonzeros)) if measured else 0.0,
        mean_postings_touched=float(np.mean(timings.postings_touched)) if measured else 0.0,
    )
