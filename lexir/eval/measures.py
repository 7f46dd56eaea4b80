"""Effectiveness measures: names parsed by ir_measures, runs scored the way `trec_eval -c` does.

What counts as relevant is ir_measures' (pytrec_eval's) default, the same as BEIR's and
Pyserini's: nDCG uses the judged grade as a linear gain and treats grades <= 0 (0, and
Cranfield's -1 "of no interest") as gain 0; R@k, RR@k, P@k and AP count a document
as relevant when its grade is >= 1 (e.g. `RR(rel=2)@10` raises the bar). A query that
has judgements but retrieved nothing scores 0 (trec_eval's `-c`), so means are taken over
every judged query, not only those with hits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from lexir.errors import LexirError

DEFAULT_MEASURES = ("nDCG@10", "R@100", "RR@10")

Run = Mapping[str, Sequence[tuple[str, float]]]
_TOP_LEVEL_COMMA = re.compile(r",(?![^(]*\))")


def split_measure_names(values: Iterable[str]) -> list[str]:
    """Names from repeated and/or comma-separated options ("nDCG@10,P(rel=2)@5" -> two names)."""
    return [name.strip() for value in values for name in _TOP_LEVEL_COMMA.split(value) if name.strip()]


def parse_measures(names: Iterable[str]) -> list:
    """ir_measures Measure objects, in order and without duplicates; a bad name is a LexirError."""
    import ir_measures

    measures = []
    for name in split_measure_names(names):
        try:
            measure = ir_measures.parse_measure(name)
        except (NameError, ValueError, SyntaxError, TypeError, AttributeError) as error:
            raise LexirError(f"unknown or malformed measure '{name}' ({error}); use ir_measures names such as "
                             "nDCG@10, R@100, RR@10 (MRR@10), P@5, AP, Judged@10") from None
        if measure not in measures:
            measures.append(measure)
    if not measures:
        raise LexirError("no measures given; e.g. --measures nDCG@10,R@100")
    return measures


def score_run(run: Run, qrels: Mapping[str, Mapping[str, int]], measures: Sequence,
              query_ids: Iterable[str]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(aggregate value of each measure, per-query values) over `query_ids`; missing queries score 0."""
    import ir_measures

    query_ids = list(query_ids)
    wanted = set(query_ids)
    scored_run = {qid: {doc_id: float(score) for doc_id, score in hits} for qid, hits in run.items()
                  if qid in wanted and hits}
    judged = {qid: dict(docs) for qid, docs in qrels.items() if qid in wanted}
    found: dict[str, dict[str, float]] = {}
    try:
        for metric in ir_measures.iter_calc(measures, judged, scored_run):
            found.setdefault(metric.query_id, {})[str(metric.measure)] = float(metric.value)
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        raise LexirError(f"ir_measures could not compute {', '.join(map(str, measures))}: {error}") from None
    per_query = {qid: {str(m): found.get(qid, {}).get(str(m), 0.0) for m in measures} for qid in query_ids}
    aggregate = {}
    for measure in measures:
        aggregator = measure.aggregator()
        for qid in query_ids:
            aggregator.add(per_query[qid][str(measure)])
        aggregate[str(measure)] = float(aggregator.result())
    return aggregate, per_query
