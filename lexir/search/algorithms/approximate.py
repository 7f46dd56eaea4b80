"""Query-term pruning, the cheap recall knob: keep the terms that can add the most to a score.

A term's bound is its query weight x the largest impact of its list (what it can add at most).
Keeping only the `query_cut` terms with the largest bounds (ties to the lower term number) cuts
the postings scored by exhaustive scoring and the essential lists of the pruning algorithms; the
scores of the kept terms stay exact, so only documents found through the dropped terms are lost.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.search.algorithms.heap import CACHE


@njit(cache=CACHE, nogil=True)
def cut_query_terms(offsets: np.ndarray, terms: np.ndarray, weights: np.ndarray, term_max: np.ndarray,
                    query_cut: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep at most `query_cut` terms of every CSR-flattened query (in term order)."""
    num_rows = offsets.shape[0] - 1
    new_offsets = np.zeros(num_rows + 1, dtype=np.int64)
    new_terms = np.empty(terms.shape[0], dtype=np.int64)
    new_weights = np.empty(terms.shape[0], dtype=np.float64)
    count = 0
    for row in range(num_rows):
        start, end = offsets[row], offsets[row + 1]
        bounds = np.empty(end - start, dtype=np.float64)
        for i in range(start, end):
            bounds[i - start] = -weights[i] * term_max[terms[i]]
        keep = np.sort(np.argsort(bounds, kind="mergesort")[:query_cut]) + start
        for i in keep:
            new_terms[count] = terms[i]
            new_weights[count] = weights[i]
            count += 1
        new_offsets[row + 1] = count
    return new_offsets, new_terms[:count], new_weights[:count]
