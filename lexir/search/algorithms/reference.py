"""Slow, obvious numpy twins of the compiled kernels: the specification they are tested against."""

from __future__ import annotations

import numpy as np


def exhaustive_top_k_reference(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, terms: np.ndarray,
                               weights: np.ndarray, num_docs: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every matching document scored in float64 (exact for grid weights, see algorithms/exact.py), top k."""
    scores = np.zeros(num_docs, dtype=np.float64)
    matched = np.zeros(num_docs, dtype=bool)
    for term, weight in zip(terms, weights):
        docs = doc_ids[offsets[term]:offsets[term + 1]]
        scores[docs] += np.float64(weight) * impacts[offsets[term]:offsets[term + 1]].astype(np.float64)
        matched[docs] = True
    candidates = np.flatnonzero(matched)
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    return candidates[order].astype(np.int32), scores[candidates[order]]
