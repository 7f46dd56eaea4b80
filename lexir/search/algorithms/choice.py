"""The `auto` algorithm choice: one rule over one cheap per-query feature, fitted on measurements.

Measured with benchmarks/algorithm_crossover.py (docs/benchmarks.md, "Query speed"): on SPLADE-tiny,
BM25 and inference-free queries over 3.6k-1M documents, exhaustive scoring (with its one-pass top-k)
beats both pruning algorithms whenever the query's posting lists hold at least a tenth as many postings
as there are documents; below that, exhaustive scoring pays for clearing and scanning its score array
of num_docs entries, and MaxScore, which touches only the lists, wins (5-10x on 1M documents).
Block-max MaxScore never won a bucket of the measurements, so `auto` does not pick it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms import EXHAUSTIVE, MAXSCORE
from lexir.search.algorithms.heap import CACHE
from lexir.search.algorithms.postings import query_postings

MAXSCORE_BELOW_POSTINGS_PER_DOC = 0.1


@njit(cache=CACHE, nogil=True)
def choose(offsets: np.ndarray, terms: np.ndarray, num_docs: int) -> int:
    """The algorithm code for one query: MaxScore when its lists are short for the index, else exhaustive."""
    return MAXSCORE if query_postings(offsets, terms) < MAXSCORE_BELOW_POSTINGS_PER_DOC * num_docs else EXHAUSTIVE
