"""Pruning kernels equal exhaustive scoring exactly: same documents, bit-identical scores, same tie order.

Random collections use few impact levels and integer weights (many ties), several block sizes
(block boundaries everywhere) and tiny windows (window boundaries everywhere).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lexir.index.postings import build_postings
from lexir.index.quantize import Quantizer
from lexir.search.algorithms import BLOCK_MAX_MAXSCORE, EXHAUSTIVE, MAXSCORE
from lexir.search.algorithms.approximate import cut_query_terms
from lexir.search.algorithms.dispatch import KernelQueries, top_k, top_k_batch
from lexir.search.algorithms.exact import exact_queries
from lexir.search.algorithms.postings import postings_from_arrays
from lexir.search.algorithms.reference import exhaustive_top_k_reference

CODES = {"exhaustive": EXHAUSTIVE, "maxscore": MAXSCORE, "block_max_maxscore": BLOCK_MAX_MAXSCORE}


class Postings:
    """Index arrays built from a documents x terms matrix of integer impacts, as the index builder does;
    with `folder`, saved there and memory-mapped read-only, as an opened index holds them."""

    def __init__(self, documents: sp.csr_matrix, block_size: int = 64, bits: int = 8, folder=None) -> None:
        self.num_docs, self.num_terms = documents.shape
        arrays = build_postings(documents, Quantizer(bits=bits, scale=1.0), block_size)
        if folder is not None:
            for name, array in arrays.items():
                np.save(folder / f"{name}.npy", array)
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in arrays}
        self.arrays = postings_from_arrays(arrays, block_size, self.num_docs)

    def top_k(self, code, terms, weights, k, heap_factor=1.0, window=4096):
        return top_k(code, self.arrays, terms, weights, k, heap_factor, window)

    def reference(self, terms, weights, k):
        return exhaustive_top_k_reference(self.arrays, terms, weights, k)


def random_documents(rng, num_docs, num_terms, density, levels=3, skew=True):
    """Random impacts 1..levels; with `skew`, term frequencies fall off like a real vocabulary's."""
    term_p = 1.0 / np.arange(1, num_terms + 1) ** 0.8 if skew else np.ones(num_terms)
    term_p = np.minimum(1.0, term_p / term_p.mean() * density)
    mask = rng.random((num_docs, num_terms)) < term_p
    values = rng.integers(1, levels + 1, size=mask.shape).astype(np.float32) * mask
    return sp.csr_matrix(values)


def prepared(terms, weights, impact_bits=8):
    offsets, terms, weights, ok = exact_queries(np.array([0, len(terms)]), np.asarray(terms, np.int32),
                                                np.asarray(weights, np.float32), impact_bits)
    assert ok
    return terms, weights


def assert_same(got, expected):
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])  # exact, not approximate


@pytest.mark.parametrize("seed", range(12))
def test_random_collections_and_queries_match_exhaustive(seed):
    rng = np.random.default_rng(seed)
    num_docs = int(rng.integers(50, 1500))
    block_size = int(rng.choice([2, 5, 64]))
    postings = Postings(random_documents(rng, num_docs, 80, float(rng.uniform(0.02, 0.2)),
                                         levels=int(rng.choice([1, 3, 255]))), block_size)
    for _ in range(8):
        n = int(rng.integers(1, 25))
        terms = rng.choice(postings.num_terms, size=n, replace=False)
        weights = rng.integers(1, 4, size=n) if rng.random() < 0.5 else rng.random(n) * 3
        terms, weights = prepared(terms, weights)
        for k in (1, 3, 10, num_docs + 5):
            expected = postings.reference(terms, weights, k)
            for name, code in CODES.items():
                for window in (1, 64, 4096):
                    assert_same(postings.top_k(code, terms, weights, k, window=window), expected)


def test_16_bit_impacts_in_read_only_memory_maps_match_exhaustive(tmp_path):
    rng = np.random.default_rng(21)
    postings = Postings(random_documents(rng, 700, 60, 0.1, levels=60_000), block_size=16, bits=16, folder=tmp_path)
    assert postings.arrays.block_max.dtype == np.uint16 and postings.arrays.block_max.max() > 255
    assert not postings.arrays.doc_blocks.flags.writeable
    for _ in range(6):
        n = int(rng.integers(1, 20))
        terms, weights = prepared(rng.choice(60, size=n, replace=False), rng.random(n) * 3, impact_bits=16)
        for k in (1, 10, 700):
            expected = postings.reference(terms, weights, k)
            for code in CODES.values():
                assert_same(postings.top_k(code, terms, weights, k, window=128), expected)


def test_all_ties_go_to_the_lowest_document_numbers():
    documents = sp.csr_matrix(np.ones((300, 4), dtype=np.float32))
    postings = Postings(documents, block_size=7)
    terms, weights = prepared([0, 2, 3], [1.0, 1.0, 1.0])
    for code in CODES.values():
        docs, scores = postings.top_k(code, terms, weights, 10, window=50)
        assert docs.tolist() == list(range(10)) and scores.tolist() == [3.0] * 10


def test_empty_query_absent_terms_and_k_beyond_the_matches():
    documents = sp.csr_matrix(np.array([[0, 2, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32))
    postings = Postings(documents)
    empty_terms, empty_weights = prepared([], [])
    for code in CODES.values():
        docs, scores = postings.top_k(code, empty_terms, empty_weights, 5)
        assert docs.size == 0 and scores.size == 0
        absent = postings.top_k(code, *prepared([0, 2], [1.0, 5.0]), 5)  # terms with no postings
        assert absent[0].size == 0
        docs, scores = postings.top_k(code, *prepared([0, 1], [3.0, 1.5]), 50)
        assert docs.tolist() == [0, 2] and scores.tolist() == [3.0, 1.5]


@pytest.mark.parametrize("length", [1, 63, 64, 65, 128, 129])
def test_single_term_queries_on_block_boundaries(length):
    rng = np.random.default_rng(length)
    column = np.zeros((400, 2), dtype=np.float32)
    rows = np.sort(rng.choice(400, size=length, replace=False))
    column[rows, 0] = rng.integers(1, 6, size=length)
    column[:, 1] = 1
    postings = Postings(sp.csr_matrix(column))
    for terms, weights in (prepared([0], [2.0]), prepared([0, 1], [2.0, 0.5])):
        for k in (1, 10, 64, 500):
            expected = postings.reference(terms, weights, k)
            for code in CODES.values():
                for window in (1, 64, 65, 4096):
                    assert_same(postings.top_k(code, terms, weights, k, window=window), expected)


def test_a_heap_factor_below_one_returns_true_scores_of_fewer_or_other_documents():
    rng = np.random.default_rng(3)
    postings = Postings(random_documents(rng, 2000, 60, 0.1, levels=255))
    terms, weights = prepared(rng.choice(60, 20, replace=False), rng.random(20))
    _, exact_scores = postings.reference(terms, weights, 2000)
    true_score = dict(zip(*postings.reference(terms, weights, 2000)))
    for code in (MAXSCORE, BLOCK_MAX_MAXSCORE):
        recalls = []
        for heap_factor in (1.0, 0.9, 0.5, 0.1):
            docs, scores = postings.top_k(code, terms, weights, 10, heap_factor=heap_factor)
            assert all(true_score[d] == s for d, s in zip(docs.tolist(), scores.tolist()))
            assert np.all(np.diff(scores) <= 0)
            recalls.append(len(set(docs.tolist()) & set(postings.reference(terms, weights, 10)[0].tolist())) / 10)
        assert recalls[0] == 1.0 and exact_scores.size > 10


def test_batch_mixes_algorithms_and_equals_single_queries():
    rng = np.random.default_rng(11)
    postings = Postings(random_documents(rng, 900, 50, 0.1))
    rows = [rng.choice(50, size=n, replace=False) for n in (4, 0, 12, 1, 30)]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    offsets, terms, weights, ok = exact_queries(indptr, np.concatenate(rows).astype(np.int32),
                                                rng.random(indptr[-1]).astype(np.float32), 8)
    codes = np.array([EXHAUSTIVE, MAXSCORE, BLOCK_MAX_MAXSCORE, MAXSCORE, BLOCK_MAX_MAXSCORE])
    queries = KernelQueries(offsets, terms, weights)
    docs, scores, counts = top_k_batch(codes, postings.arrays, queries, 7, 1.0, 256)
    for q in range(len(rows)):
        span = slice(offsets[q], offsets[q + 1])
        expected = postings.reference(terms[span], weights[span], 7)
        assert_same((docs[q, :counts[q]], scores[q, :counts[q]]), expected)


def test_exact_queries_sorts_merges_grids_and_rejects_negative_weights():
    indptr = np.array([0, 4, 4, 6])
    indices = np.array([9, 2, 9, 5, 1, 0], dtype=np.int32)
    data = np.array([0.5, 1.0, 0.25, 0.0, 1e-15, 2.0], dtype=np.float32)
    offsets, terms, weights, ok = exact_queries(indptr, indices, data, 8)
    assert ok and offsets.tolist() == [0, 2, 2, 3]
    assert terms.tolist() == [2, 9, 0] and weights.tolist() == [1.0, 0.75, 2.0]  # 1e-15 is below the grid
    assert not exact_queries(indptr, indices, -data, 8)[3]


def test_grid_sums_are_exact_in_any_order():
    rng = np.random.default_rng(5)
    weights = (rng.random(200) * 10.0 ** rng.integers(-6, 2, size=200)).astype(np.float32)
    _, _, grid, _ = exact_queries(np.array([0, 200]), np.arange(200, dtype=np.int32), weights, 8)
    products = grid * rng.integers(1, 256, size=grid.size)
    sums = {float(np.sum(products[rng.permutation(grid.size)].tolist())) for _ in range(20)}
    assert len(sums) == 1


def test_query_cut_keeps_the_terms_of_largest_bound_in_term_order():
    offsets = np.array([0, 4, 5])
    terms = np.array([1, 2, 3, 4, 0])
    weights = np.array([1.0, 3.0, 1.0, 2.0, 5.0])
    term_max = np.array([1, 10, 1, 9, 1], dtype=np.uint8)  # bounds of row 0: 10, 3, 9, 2
    new_offsets, new_terms, new_weights = cut_query_terms(offsets, terms, weights, term_max, 2)
    assert new_offsets.tolist() == [0, 2, 3]
    assert new_terms.tolist() == [1, 3, 0] and new_weights.tolist() == [1.0, 1.0, 5.0]
