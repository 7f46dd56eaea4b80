"""Exact search: kernels equal their numpy twin; the searcher equals brute-force scipy on real text."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.errors import EncoderMismatchError, LexirError
from lexir.index import InvertedIndex, build_index
from lexir.index.postings import build_postings
from lexir.index.quantize import Quantizer
from lexir.search import open_search
from lexir.search.algorithms.dispatch import KernelQueries, top_k_many
from lexir.search.algorithms.exhaustive import exhaustive_top_k
from lexir.search.algorithms.postings import PostingArrays, postings_from_arrays
from lexir.search.algorithms.reference import exhaustive_top_k_reference
from tests.helpers import write_jsonl
from tests.texts import QUERIES


def postings_of(documents: sp.csr_matrix) -> PostingArrays:
    """The posting arrays of a documents x terms matrix of integer impacts, as the index builder makes them."""
    return postings_from_arrays(build_postings(documents, Quantizer(bits=8, scale=1.0), 64), 64, documents.shape[0])


def random_postings(rng, num_docs, num_terms, density):
    matrix = sp.random(num_docs, num_terms, density=density, format="csr", random_state=rng)
    matrix.data = rng.integers(1, 4, size=matrix.nnz).astype(np.float32)  # few levels: many ties
    return postings_of(matrix)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 10, 1000])
def test_kernel_equals_reference_with_ties_and_large_k(seed, k):
    rng = np.random.default_rng(seed)
    postings = random_postings(rng, 400, 60, 0.05)
    terms = rng.choice(60, size=5, replace=False).astype(np.int64)
    weights = rng.integers(1, 3, size=5).astype(np.float32)
    docs, scores = exhaustive_top_k(postings, terms, weights, k)
    expected_docs, expected_scores = exhaustive_top_k_reference(postings, terms, weights, k)
    np.testing.assert_array_equal(docs, expected_docs)
    np.testing.assert_array_equal(scores, expected_scores)
    assert len(docs) <= k


def test_kernel_edge_cases_empty_query_and_absent_terms():
    postings = postings_of(sp.csr_matrix(np.array([[0, 0], [0, 5], [0, 0], [0, 5]], dtype=np.float32)))
    assert postings.offsets.tolist() == [0, 0, 2]  # term 0 has no postings
    docs, _ = exhaustive_top_k(postings, np.zeros(0, np.int64), np.zeros(0, np.float32), 3)
    assert docs.size == 0
    docs, scores = exhaustive_top_k(postings, np.array([0, 1]), np.array([1.0, 2.0], np.float32), 3)
    assert docs.tolist() == [1, 3] and scores.tolist() == [10.0, 10.0]  # tie broken by lower doc number


def test_batch_kernel_equals_single_queries():
    rng = np.random.default_rng(7)
    postings = random_postings(rng, 300, 40, 0.08)
    queries = [rng.choice(40, size=n, replace=False) for n in (3, 0, 7, 1)]
    query_offsets = np.cumsum([0] + [len(q) for q in queries]).astype(np.int64)
    terms = np.concatenate(queries).astype(np.int64)
    weights = rng.random(terms.size)
    batch = KernelQueries(query_offsets, terms, weights)
    docs, scores, counts = top_k_many(postings, batch, "exhaustive", 8, 1.0)
    for i in range(len(queries)):
        span = slice(query_offsets[i], query_offsets[i + 1])
        single_docs, single_scores = exhaustive_top_k(postings, terms[span], weights[span], 8)
        np.testing.assert_array_equal(docs[i, :counts[i]], single_docs)
        np.testing.assert_array_equal(scores[i, :counts[i]], single_scores)


@pytest.fixture(params=["bm25", "splade-tiny"])
def real_index(request, tmp_path):
    encoder = request.getfixturevalue("splade_tiny") if request.param == "splade-tiny" else create_encoder("bm25")
    corpus = Corpus(str(write_jsonl(tmp_path / "docs.jsonl")))
    build_index(corpus, encoder, tmp_path / "index", chunk_size=4, progress=False)
    return open_search(tmp_path / "index", encoder=encoder), corpus, encoder


def base_index(searcher) -> InvertedIndex:
    return searcher.retrievers["sparse"].live.snapshot().base


def test_searcher_equals_brute_force_scipy(real_index):
    searcher, corpus, encoder = real_index
    documents = encoder.encode_documents([doc.contents for doc in corpus])
    quantizer = base_index(searcher).quantizer
    dequantized = documents.copy()
    dequantized.data = quantizer.dequantize(quantizer.quantize(documents.data))
    queries = encoder.encode_queries(QUERIES)
    exact_scores = (queries @ documents.T).toarray()
    quantized_scores = (queries @ dequantized.T).toarray()
    ids = [doc.id for doc in corpus]
    for i, result in enumerate(searcher.search_batch(QUERIES, k=5)):
        expected = np.lexsort((np.arange(len(ids)), -quantized_scores[i]))[:5]
        expected = [j for j in expected if quantized_scores[i, j] > 0]
        assert [hit.id for hit in result.hits] == [ids[j] for j in expected]
        got = np.array([hit.score for hit in result.hits])
        np.testing.assert_allclose(got, quantized_scores[i, expected], rtol=1e-5)
        step = quantizer.scale * queries[i].sum()  # worst case: every term off by half a step each way
        assert np.all(np.abs(got - exact_scores[i, expected]) <= step / 2 + 1e-6)


def test_single_and_batch_search_agree_and_explain_sums_to_score(real_index):
    searcher, _, _ = real_index
    batch = searcher.search_batch(QUERIES, k=3, explain=True)
    for query, batched in zip(QUERIES, batch):
        single = searcher.search(query, k=3, explain=True, with_text=True)
        # a query encoded alone or padded in a batch differs only in float rounding
        assert [h.id for h in single.hits] == [h.id for h in batched.hits]
        np.testing.assert_allclose([h.score for h in single.hits], [h.score for h in batched.hits], rtol=1e-5)
        for hit in single.hits:
            assert sum(hit.contributions.values()) == pytest.approx(hit.score, rel=1e-4)
            assert hit.title is not None and hit.rank >= 1


def test_prepared_queries_k_and_empty_queries(real_index):
    searcher, _, _ = real_index
    text_result = searcher.search(QUERIES[0], k=4)
    prepared = searcher.search(text_result.query_terms, k=4)
    assert [h.id for h in prepared.hits] == [h.id for h in text_result.hits]
    assert len(searcher.search(QUERIES[0], k=10_000).hits) <= base_index(searcher).num_docs
    assert searcher.search({"zzzz-not-a-term": 1.0}, k=3).hits == []
    with pytest.raises(LexirError, match="empty"):
        searcher.search("   ")
    with pytest.raises(LexirError, match="positive"):
        searcher.search(QUERIES[0], k=0)
    with pytest.raises(LexirError, match="negative"):
        searcher.search({next(iter(text_result.query_terms)): -1.0})


def test_a_query_encoder_with_another_spec_is_refused(tmp_path, real_index):
    searcher, _, encoder = real_index
    other = create_encoder("bm25")
    other.fit(["completely different corpus text"])
    path = base_index(searcher).path
    with pytest.raises(EncoderMismatchError, match="cannot be searched with"):
        open_search(path, encoder=other)
    if encoder.spec.kind == "splade":
        pruned = create_encoder("splade-tiny", query_top_k=5)
        with pytest.raises(EncoderMismatchError, match="query_top_k|params"):
            open_search(path, encoder=pruned)
