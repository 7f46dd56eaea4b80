"""Slow, obvious numpy twins of the compiled kernels: the specification they are tested against."""

from __future__ import annotations

import numpy as np

from lexir.index.codec import decode_terms
from lexir.search.algorithms.postings import PostingArrays


def exhaustive_top_k_reference(postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Every matching document scored in float64 (exact for grid weights, see exact.py), top k."""
    doc_ids, ok = decode_terms(postings, 0, postings.offsets.shape[0] - 1)
    impacts = postings.impacts
    if not ok:
        raise ValueError("a block of the postings fails its checks")
    offsets = postings.offsets
    scores = np.zeros(postings.num_docs, dtype=np.float64)
    matched = np.zeros(postings.num_docs, dtype=bool)
    for term, weight in zip(terms, weights):
        docs = doc_ids[offsets[term]:offsets[term + 1]]
        scores[docs] += np.float64(weight) * impacts[offsets[term]:offsets[term + 1]].astype(np.float64)
        matched[docs] = True
    candidates = np.flatnonzero(matched)
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    return candidates[order].astype(np.int32), scores[candidates[order]]
