"""Query weights on a binary grid, so that every score is an exact float64 sum.

Pruning algorithms add a document's term contributions in another order than
term-at-a-time scoring does (essential lists first, then non-essential ones by bound).
Float sums depend on their order, so the same document could get two scores that
differ in the last bit, and exactness tests would be meaningless. Instead each query
weight w is rounded to a multiple of a power of two u = 2**(e - G - 1), where
2**e > max weight; with n query terms and b-bit impacts, G = 52 - b - ceil(log2 n)
keeps every product (w/u) * impact and every sum of them an integer below 2**53,
so float64 represents every partial sum exactly and the order cannot matter.
For typical queries the rounding changes no weight at all: float32 weights are
already on that grid unless they are 2**(G - 24) times smaller than the largest.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lexir.search.algorithms.heap import CACHE


@njit(cache=CACHE, nogil=True)
def exact_queries(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, impact_bits: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """CSR query rows -> (offsets, terms, float64 grid weights, ok) for the kernels.

    Per row: terms sorted, duplicate terms summed (in float32, as scipy does), weights put on the
    row's grid, and zero weights dropped. `ok` is False when a weight is negative (nothing else is done).
    """
    num_rows = indptr.shape[0] - 1
    offsets = np.zeros(num_rows + 1, dtype=np.int64)
    terms = np.empty(indices.shape[0], dtype=np.int64)
    weights = np.empty(indices.shape[0], dtype=np.float64)
    for p in range(data.shape[0]):
        if data[p] < 0:
            return offsets, terms[:0], weights[:0], False
    count = 0
    for row in range(num_rows):
        start, end = indptr[row], indptr[row + 1]
        order = np.argsort(indices[start:end], kind="mergesort") + start
        first = count
        previous = -1
        merged = np.float32(0)
        for position in range(order.shape[0] + 1):
            term = indices[order[position]] if position < order.shape[0] else -1
            if term != previous and previous >= 0 and merged > 0:
                terms[count] = previous
                weights[count] = merged
                count += 1
            if term != previous:
                merged = np.float32(0)
                previous = term
            if position < order.shape[0]:
                merged += np.float32(data[order[position]])
        n = count - first
        if n == 0:
            offsets[row + 1] = count
            continue
        largest = weights[first:count].max()
        exponent = math.frexp(largest)[1]
        grid_bits = 52 - impact_bits - math.ceil(math.log2(n))
        unit = math.ldexp(1.0, exponent - grid_bits - 1)
        kept = first
        for i in range(first, count):
            weight = np.rint(weights[i] / unit) * unit
            if weight > 0:
                terms[kept] = terms[i]
                weights[kept] = weight
                kept += 1
        count = kept
        offsets[row + 1] = count
    return offsets, terms[:count], weights[:count], True
