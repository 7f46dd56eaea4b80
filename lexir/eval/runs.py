"""Run lists: a system's ranked hits per topic, in the order trec_eval reads them."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

import numpy as np
from tqdm.auto import tqdm

from lexir.eval.datasets import Topic
from lexir.search import Searcher
from lexir.search.fusion import FusedRanking

Run = dict[str, list[tuple[str, float]]]


def ranking_hits(ranking: FusedRanking) -> list[tuple[str, float]]:
    """A ranking as (document id, score) pairs, best first (converted by numpy's tolist, not element by element:
    a tuning sweep converts thousands of rankings)."""
    return list(zip(map(str, ranking.keys.tolist()), np.asarray(ranking.scores, dtype=np.float64).tolist()))


def run_from_hits(topics: Sequence[Topic], hits_per_topic: Sequence[list[tuple[str, float]]], depth: int,
                  drop: bool) -> Run:
    """Each topic's (doc id, score) hits, best first, as run lists: self-hits dropped if `drop`, cut to
    `depth`, in trec_eval's order (score descending, ties by document id descending)."""
    run = {}
    for topic, hits in zip(topics, hits_per_topic):
        if drop:
            hits = [hit for hit in hits if hit[0] != topic.query_id]
        hits = hits[:depth]
        hits.sort(key=itemgetter(1, 0), reverse=True)
        run[topic.query_id] = hits
    return run


def search_topics(searcher: Searcher, topics: Sequence[Topic], depth: int, drop: bool, *, batch: int | None = 256,
                  progress: bool = False) -> Run:
    """Every topic searched (batches of `batch` queries, parallel scoring; None: all at once) as run lists of
    at most `depth` hits, self-hits dropped if `drop`; a topic with an empty text (or vector) gets an empty list."""
    k = depth + 1 if drop else depth
    searchable = [topic for topic in topics if topic.searchable]
    step = batch or max(len(searchable), 1)
    hits: list[list[tuple[str, float]]] = []
    with tqdm(total=len(searchable), unit="q", desc="searching", disable=not progress) as bar:
        for start in range(0, len(searchable), step):
            chunk = searchable[start:start + step]
            hits.extend(ranking_hits(ranking) for ranking in searcher.rank([topic.query for topic in chunk], k))
            bar.update(len(chunk))
    run = run_from_hits(searchable, hits, depth, drop)
    return {topic.query_id: run.get(topic.query_id, []) for topic in topics}
