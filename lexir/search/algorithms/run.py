"""From query rows to kernel calls: exact weights, the algorithm of each query, one query or a batch."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from lexir.errors import LexirError
from lexir.index.reader import InvertedIndex
from lexir.search.algorithms import ALGORITHMS
from lexir.search.algorithms.approximate import cut_query_terms
from lexir.search.algorithms.block_max_maxscore import DEFAULT_WINDOW
from lexir.search.algorithms.dispatch import top_k, top_k_batch
from lexir.search.algorithms.exact import exact_queries


class KernelQueries(NamedTuple):
    """CSR-flattened queries as the kernels take them: query i owns terms[offsets[i]:offsets[i+1]]."""

    offsets: np.ndarray
    terms: np.ndarray
    weights: np.ndarray


def kernel_queries(vectors: sp.csr_matrix, impact_bits: int) -> KernelQueries:
    """Query rows with sorted, merged terms and exact grid weights (zero weights dropped)."""
    if not sp.isspmatrix_csr(vectors):
        vectors = sp.csr_matrix(vectors)
    offsets, terms, weights, ok = exact_queries(vectors.indptr, vectors.indices, vectors.data, impact_bits)
    if not ok:
        raise LexirError("query term weights must not be negative")
    return KernelQueries(offsets, terms, weights)


def cut_queries(queries: KernelQueries, term_max: np.ndarray, query_cut: int) -> KernelQueries:
    """Approximate search: keep each query's `query_cut` terms of largest bound (see approximate.py)."""
    return KernelQueries(*cut_query_terms(queries.offsets, queries.terms, queries.weights, term_max, query_cut))


def algorithm_codes(queries: KernelQueries, algorithm: str) -> np.ndarray:
    """The algorithm code of every query (AUTO is resolved per query inside the kernels)."""
    return np.full(len(queries.offsets) - 1, ALGORITHMS[algorithm], dtype=np.int64)


def search_one(index: InvertedIndex, queries: KernelQueries, code: int, k: int, heap_factor: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Top k of the first (only) query, in the calling thread: (doc numbers, float64 scores in impact units)."""
    span = slice(queries.offsets[0], queries.offsets[1])
    return top_k(code, index.offsets, index.doc_ids, index.impacts, index.term_max, index.block_offsets,
                 index.block_max, index.block_last_doc, index.manifest.block_size, queries.terms[span],
                 queries.weights[span], index.num_docs, k, heap_factor, DEFAULT_WINDOW)


def search_many(index: InvertedIndex, queries: KernelQueries, codes: np.ndarray, k: int, heap_factor: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top k of every query in parallel threads: (docs[Q, k], float64 scores[Q, k], counts[Q])."""
    return top_k_batch(codes, index.offsets, index.doc_ids, index.impacts, index.term_max, index.block_offsets,
                       index.block_max, index.block_last_doc, index.manifest.block_size, queries.offsets,
                       queries.terms, queries.weights, index.num_docs, k, heap_factor, DEFAULT_WINDOW)
