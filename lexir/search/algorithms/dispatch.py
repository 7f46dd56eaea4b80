"""From an algorithm name to a kernel call: the searcher's one way into the top-k kernels.

The searcher turns its query rows into KernelQueries (exact grid weights, optionally cut), takes the
index as one PostingArrays, and asks for the top k of one query (`top_k_one`, in the calling thread,
lowest latency) or of a batch (`top_k_many`, queries in parallel numba threads). Both run the compiled
`top_k`, which maps an algorithm code (the package's name table) to its kernel, resolving `auto` per
query with the rule of choice.py; a batch carries one code per query, so one parallel loop can mix them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from lexir.errors import IndexFormatError, LexirError
from lexir.index.format import REBUILD
from lexir.search.algorithms import ALGORITHMS, AUTO, BLOCK_MAX_MAXSCORE, MAXSCORE
from lexir.search.algorithms.approximate import cut_query_terms
from lexir.search.algorithms.block_max_maxscore import block_max_maxscore_top_k
from lexir.search.algorithms.choice import choose
from lexir.search.algorithms.exact import exact_queries
from lexir.search.algorithms.exhaustive import exhaustive_top_k
from lexir.search.algorithms.heap import CACHE
from lexir.search.algorithms.maxscore import maxscore_top_k
from lexir.search.algorithms.postings import PostingArrays, posting_arrays
from lexir.search.algorithms.windows import DEFAULT_WINDOW


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


def known_terms(queries: KernelQueries, num_terms: int) -> KernelQueries:
    """The queries without terms numbered num_terms or above: words appended to a live vocabulary after a
    segment was written, which it cannot hold (a mask on the flat arrays: no scipy slicing per segment)."""
    known = queries.terms < num_terms
    if known.all():
        return queries
    kept_before = np.concatenate([[0], np.cumsum(known)])
    return KernelQueries(kept_before[queries.offsets].astype(queries.offsets.dtype), queries.terms[known],
                         queries.weights[known])


def cut_queries(queries: KernelQueries, term_max: np.ndarray, query_cut: int) -> KernelQueries:
    """Approximate search: keep each query's `query_cut` terms of largest bound (see approximate.py)."""
    return KernelQueries(*cut_query_terms(queries.offsets, queries.terms, queries.weights, term_max, query_cut))


def top_k_one(postings: PostingArrays, queries: KernelQueries, algorithm: str, k: int, heap_factor: float,
              folder: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k of the first query in the calling thread: (doc numbers, float64 scores in impact units).

    `folder`, the index directory, is named by the error a damaged doc_blocks.npy raises."""
    check_terms(postings, queries, folder)
    span = slice(queries.offsets[0], queries.offsets[1])
    docs, scores = top_k(ALGORITHMS[algorithm], postings, queries.terms[span], queries.weights[span], k,
                         heap_factor, DEFAULT_WINDOW)
    if docs.shape[0] == 1 and docs[0] < 0:  # corrupt_result(): one hit numbered -1 (a real hit is never negative)
        raise damaged(postings, folder)
    return docs, scores


def top_k_many(postings: PostingArrays, queries: KernelQueries, algorithm: str, k: int, heap_factor: float,
               folder: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top k of every query in parallel threads: (docs[Q, k], float64 scores[Q, k], counts[Q])."""
    check_terms(postings, queries, folder)
    codes = np.full(len(queries.offsets) - 1, ALGORITHMS[algorithm], dtype=np.int64)
    docs, scores, counts = top_k_batch(codes, postings, queries, k, heap_factor, DEFAULT_WINDOW)
    if ((docs < 0) & (np.arange(docs.shape[1]) < counts[:, None])).any():
        raise damaged(postings, folder)
    return docs, scores, counts


def check_terms(postings: PostingArrays, queries: KernelQueries, folder: Path | None) -> None:
    """Query term numbers index the offsets: one outside the index's vocabulary is refused before any kernel."""
    num_terms = postings.offsets.shape[0] - 1
    if queries.terms.size and (queries.terms.min() < 0 or queries.terms.max() >= num_terms):
        raise IndexFormatError(f"{folder or 'the index'}: a query term number ({int(queries.terms.max())}) lies "
                               f"outside the index's {num_terms:,} terms: its encoder does not match it; {REBUILD}")


def damaged(postings: PostingArrays, folder: Path | None) -> IndexFormatError:
    """A kernel met a block that fails its checks (see postings.py)."""
    path = folder / "doc_blocks.npy" if folder is not None else "doc_blocks.npy"
    return IndexFormatError(f"index file {path} is damaged: a block does not decode to document numbers within "
                            f"0..{postings.num_docs - 1:,} that end where block_last_doc.npy says, with the maximum "
                            f"block_max.npy records; {REBUILD}")


@njit(cache=CACHE, nogil=True)
def top_k(code: int, postings: PostingArrays, terms: np.ndarray, weights: np.ndarray, k: int, heap_factor: float,
          window: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k of one query (doc numbers, float64 scores in impact units) with the algorithm `code`."""
    if code == AUTO:
        code = choose(postings.offsets, terms, postings.num_docs)
    if code == MAXSCORE:
        return maxscore_top_k(postings, terms, weights, k, heap_factor, window)
    if code == BLOCK_MAX_MAXSCORE:
        return block_max_maxscore_top_k(postings, terms, weights, k, heap_factor, window)
    return exhaustive_top_k(postings, terms, weights, k)


@njit(cache=CACHE, nogil=True)
def top_k_parts(code: int, parts: tuple, ordinals: tuple, terms: np.ndarray, weights: np.ndarray, k: int,
                heap_factor: float, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top k of one query over an index split into parts (local shards sharing one vocabulary and impact grid),
    in one call: each part's top k, kept while among the best k by score, then by ordinal (ordinals[p][doc]: the
    document's place in the whole collection, the order one index would number it in).

    Returns (part, document number in the part, float64 score in impact units, ordinal) of each hit, best first;
    a part whose blocks fail their checks: one hit of part -1 - p."""
    hit_parts = np.empty(k, dtype=np.int64)
    hit_docs = np.empty(k, dtype=np.int64)
    hit_scores = np.empty(k, dtype=np.float64)
    hit_ordinals = np.empty(k, dtype=np.int64)
    size = 0
    for p in range(len(parts)):
        docs, scores = top_k(code, parts[p], terms, weights, k, heap_factor, window)
        if docs.shape[0] == 1 and docs[0] < 0:
            return (np.full(1, -1 - p, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.float64),
                    np.zeros(1, dtype=np.int64))
        part_ordinals = ordinals[p]
        for j in range(docs.shape[0]):
            score, ordinal = scores[j], part_ordinals[docs[j]]
            at = size
            while at > 0 and (hit_scores[at - 1] < score or (hit_scores[at - 1] == score
                                                              and hit_ordinals[at - 1] > ordinal)):
                at -= 1
            if at >= k:
                continue
            for move in range(min(size, k - 1), at, -1):  # the worse hits one place down (the last one drops)
                hit_parts[move], hit_docs[move] = hit_parts[move - 1], hit_docs[move - 1]
                hit_scores[move], hit_ordinals[move] = hit_scores[move - 1], hit_ordinals[move - 1]
            hit_parts[at], hit_docs[at], hit_scores[at], hit_ordinals[at] = p, docs[j], score, ordinal
            size = min(size + 1, k)
    return hit_parts[:size].copy(), hit_docs[:size].copy(), hit_scores[:size].copy(), hit_ordinals[:size].copy()


@njit(cache=CACHE, nogil=True)
def top_k_parts_rows(code: int, parts: tuple, ordinals: tuple, queries: KernelQueries, first: int, last: int, k: int,
                     heap_factor: float, window: int, out_parts: np.ndarray, out_docs: np.ndarray,
                     out_scores: np.ndarray, out_ordinals: np.ndarray, counts: np.ndarray) -> None:
    """`top_k_parts` of queries first..last-1 into rows of the out arrays ([Q, k]; row i holds counts[i] hits; a
    damaged part: one hit of part -1 - p). Not a prange loop: numba's parallel loops do not take a tuple of
    PostingArrays, so a batch's threads are Python's (the kernel releases the GIL; see base_parts.py)."""
    for q in range(first, last):
        span = slice(queries.offsets[q], queries.offsets[q + 1])
        hit_parts, docs, scores, hit_ordinals = top_k_parts(code, parts, ordinals, queries.terms[span],
                                                            queries.weights[span], k, heap_factor, window)
        size = hit_parts.shape[0]
        counts[q] = size
        out_parts[q, :size] = hit_parts
        out_docs[q, :size] = docs
        out_scores[q, :size] = scores
        out_ordinals[q, :size] = hit_ordinals


@njit(cache=CACHE, parallel=True)
def top_k_batch(codes: np.ndarray, postings: PostingArrays, queries: KernelQueries, k: int, heap_factor: float,
                window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every query in parallel threads, query i with algorithm codes[i].

    Returns (docs[Q, k], scores[Q, k], counts[Q]); row i holds counts[i] valid hits.
    """
    num_queries = queries.offsets.shape[0] - 1
    out_docs = np.full((num_queries, k), -1, dtype=np.int32)
    out_scores = np.zeros((num_queries, k), dtype=np.float64)
    counts = np.zeros(num_queries, dtype=np.int64)
    for q in prange(num_queries):
        span = slice(queries.offsets[q], queries.offsets[q + 1])
        docs, scores = top_k(codes[q], postings, queries.terms[span], queries.weights[span], k, heap_factor, window)
        counts[q] = docs.shape[0]
        out_docs[q, : docs.shape[0]] = docs
        out_scores[q, : docs.shape[0]] = scores
    return out_docs, out_scores, counts


__all__ = ["DEFAULT_WINDOW", "KernelQueries", "PostingArrays", "cut_queries", "kernel_queries", "posting_arrays",
           "top_k", "top_k_batch", "top_k_many", "top_k_one", "top_k_parts", "top_k_parts_rows",
           "check_terms", "damaged"]
