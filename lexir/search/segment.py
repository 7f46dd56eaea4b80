"""Exact top-k over one index directory: query vectors in, document numbers and scores out.

Scores are dot products of the query weights and the dequantized document impacts. Every algorithm
(search/algorithms/) returns the same hits with the same scores: sums are exact in float64
(algorithms/exact.py), ranked with ties to the lower document number, and only then multiplied by the
impact scale and rounded to float32 (so two hits may show equal float32 scores in exact-score order).
A query cut (approximate search) scores only the query's kept terms, and `explain` reports only those.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from lexir.index.reader import InvertedIndex
from lexir.search.algorithms.dispatch import (
    KernelQueries,
    cut_queries,
    kernel_queries,
    known_terms,
    top_k_many,
    top_k_one,
)
from lexir.search.algorithms.postings import PostingArrays, posting_arrays
from lexir.search.options import SearchOptions
from lexir.search.results import RankedNums, clamp_k


class SegmentSearcher:
    """Ranks query vectors (CSR rows over the index's vocabulary) against one opened index."""

    def __init__(self, index: InvertedIndex) -> None:
        self.index = index

    @cached_property
    def postings(self) -> PostingArrays:
        return posting_arrays(self.index)

    def rank(self, vectors: sp.csr_matrix | KernelQueries, k: int, options: SearchOptions) -> list[RankedNums]:
        """Top-k of every row, in parallel threads. `vectors`: CSR rows, or rows already prepared by
        `kernel_queries` with this index's impact bits (one preparation shared by several segments or shards)."""
        k = clamp_k(k, self.index.num_docs)
        docs, scores, counts = top_k_many(self.postings, self._kernel_queries(vectors, options), options.algorithm,
                                          k, options.heap_factor, self.index.path)
        return [RankedNums(docs[i, :counts[i]].astype(np.int64), self._scaled(scores[i, :counts[i]]))
                for i in range(len(counts))]

    def rank_one(self, vector: sp.csr_matrix | KernelQueries, k: int, options: SearchOptions) -> RankedNums:
        """Top-k of one row (CSR or prepared, as `rank` takes them) in the calling thread (lowest latency)."""
        k = clamp_k(k, self.index.num_docs)
        nums, scores = top_k_one(self.postings, self._kernel_queries(vector, options), options.algorithm, k,
                                 options.heap_factor, self.index.path)
        return RankedNums(np.asarray(nums, dtype=np.int64), self._scaled(scores))

    def explain(self, vector: sp.csr_matrix, num: int, options: SearchOptions, vocabulary: Sequence[str]
                ) -> dict[str, float]:
        """Per scored query term, its part of document `num`'s score (terms that do not match are left out)."""
        scored = self._kernel_queries(vector, options).terms if options.query_cut is not None else None
        scale = self.index.quantizer.scale
        parts = {}
        for term, weight in zip(vector.indices, vector.data):
            if term >= self.index.num_terms or (scored is not None and term not in scored):
                continue
            docs, impacts = self.index.postings(int(term))
            position = int(np.searchsorted(docs, num))
            if position < len(docs) and docs[position] == num:
                parts[vocabulary[term]] = float(np.float32(weight) * np.float32(impacts[position]) * np.float32(scale))
        return dict(sorted(parts.items(), key=lambda item: -item[1]))

    def _kernel_queries(self, vectors: sp.csr_matrix | KernelQueries, options: SearchOptions) -> KernelQueries:
        if not isinstance(vectors, KernelQueries):
            vectors = kernel_queries(vectors, self.index.quantizer.bits)
        queries = known_terms(vectors, self.index.num_terms)
        if options.query_cut is None:
            return queries
        return cut_queries(queries, self.index.term_max, options.query_cut)

    def _scaled(self, impact_scores: np.ndarray) -> np.ndarray:
        """Exact sums in impact units -> float32 scores in the encoder's units."""
        return (impact_scores * self.index.quantizer.scale).astype(np.float32)
