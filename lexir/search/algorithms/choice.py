"""The `auto` algorithm choice: one rule over cheap per-query and per-index features, fitted on measurements.

Exhaustive scoring costs about a fixed time per posting plus a pass over its score array of num_docs entries;
MaxScore touches only the lists but pays more per posting it reads. So MaxScore wins when the query's lists
hold few postings for the size of the index: fewer than a fraction F of num_docs. F grows with the index,
because exhaustive scoring's scattered adds into the score array miss the caches more often as the array
grows (8 bytes a document). Re-fitted on the compressed postings of format version 2 with
benchmarks/auto_choice.py (docs/benchmarks.md, "Choosing the algorithm"): the best F was below 0.1 on
NFCorpus (3.6k documents; every F up to 0.5 within 0.2% of exhaustive alone), 0.15-0.2 on IMDb-100k BM25, and
0.5 on the 1M scale set (7% below exhaustive alone; 0.2 gave 1%), and no fraction at all on the 8.8M scale set
(MS MARCO passage's size: MaxScore was faster on 147 of 150 queries, 94 of the 97 whose lists hold more than
0.5 x num_docs postings; mean CPU time 37 ms against 113 exhaustive and 50 block-max MaxScore; with the
windowed MaxScore of windows.py, faster on all 150, 25 ms against 107 and 28), so from
HUGE_INDEX_DOCS on `auto` is MaxScore. Where between 1M and 8.8M documents that starts is not measured: the
tier begins at the measured size. Block-max MaxScore was never the best algorithm on average, so `auto` does not
pick it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms import EXHAUSTIVE, MAXSCORE
from lexir.search.algorithms.heap import CACHE
from lexir.search.algorithms.postings import query_postings

MAXSCORE_BELOW_POSTINGS_PER_DOC = 0.2
LARGE_INDEX_DOCS = 1_000_000  # from here on, the larger fraction (measured at 1M documents)
MAXSCORE_BELOW_POSTINGS_PER_DOC_LARGE = 0.5
HUGE_INDEX_DOCS = 8_000_000  # from here on, MaxScore for every query (measured at 8.8M documents)


@njit(cache=CACHE, nogil=True)
def choose(offsets: np.ndarray, terms: np.ndarray, num_docs: int) -> int:
    """The algorithm code for one query: MaxScore when its lists are short for the index, else exhaustive."""
    if num_docs >= HUGE_INDEX_DOCS:
        return MAXSCORE
    large = num_docs >= LARGE_INDEX_DOCS
    fraction = MAXSCORE_BELOW_POSTINGS_PER_DOC_LARGE if large else MAXSCORE_BELOW_POSTINGS_PER_DOC
    return MAXSCORE if query_postings(offsets, terms) < fraction * num_docs else EXHAUSTIVE
