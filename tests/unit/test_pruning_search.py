"""Every algorithm behind the searcher returns exactly the exhaustive hits on real encoded text (BM25 over a
few hundred documents, SPLADE-tiny over the test texts and, when present, the nfcorpus index)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.errors import LexirError
from lexir.index import InvertedIndex, build_index
from lexir.search import SearchOptions, open_search
from lexir.search.algorithms import ALGORITHM_CHOICES, EXHAUSTIVE, MAXSCORE
from lexir.search.algorithms.choice import (
    HUGE_INDEX_DOCS,
    LARGE_INDEX_DOCS,
    MAXSCORE_BELOW_POSTINGS_PER_DOC,
    MAXSCORE_BELOW_POSTINGS_PER_DOC_LARGE,
    choose,
)
from lexir.search.segment import SegmentSearcher
from tests.helpers import write_jsonl
from tests.texts import DOCUMENTS, QUERIES


def mixed_documents(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Documents made of 1-4 real sentences of the test texts, so posting lists run over many blocks."""
    rng = np.random.default_rng(seed)
    sentences = [s.strip() for _, _, text in DOCUMENTS for s in text.split(". ") if s.strip()]
    return [(f"m{i}", "", ". ".join(rng.choice(sentences, size=int(rng.integers(1, 5))))) for i in range(count)]


def assert_all_algorithms_agree(segment: SegmentSearcher, vectors, k: int) -> None:
    exhaustive = SearchOptions(algorithm="exhaustive")
    expected = [segment.rank_one(vectors[i], k, exhaustive) for i in range(vectors.shape[0])]
    for algorithm in ALGORITHM_CHOICES:
        options = SearchOptions(algorithm=algorithm)
        batch = segment.rank(vectors, k, options)
        for i, want in enumerate(expected):
            single = segment.rank_one(vectors[i], k, options)
            for got in (single, batch[i]):
                np.testing.assert_array_equal(got.nums, want.nums)
                np.testing.assert_array_equal(got.scores, want.scores)


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pruning")
    corpus = Corpus(str(write_jsonl(folder / "docs.jsonl", mixed_documents(700))))
    build_index(corpus, create_encoder("bm25"), folder / "index", progress=False)
    return folder / "index"


@pytest.mark.parametrize("k", [1, 10, 1000])
def test_bm25_all_algorithms_equal_exhaustive(bm25_index, k):
    index = InvertedIndex(bm25_index)
    assert index.doc_freq.max() > 3 * index.manifest.block_size  # lists span several blocks
    texts = QUERIES + [text for _, _, text in mixed_documents(20, seed=1)]
    vectors = index.load_encoder().encode_queries(texts)
    assert_all_algorithms_agree(SegmentSearcher(index), vectors, k)


def test_splade_all_algorithms_equal_exhaustive(splade_tiny, tmp_path):
    corpus = Corpus(str(write_jsonl(tmp_path / "docs.jsonl")))
    build_index(corpus, splade_tiny, tmp_path / "index", chunk_size=4, progress=False)
    vectors = splade_tiny.encode_queries(QUERIES)
    for k in (1, 5, 50):
        assert_all_algorithms_agree(SegmentSearcher(InvertedIndex(tmp_path / "index")), vectors, k)


def test_search_results_are_the_same_whatever_the_algorithm(bm25_index):
    results = {a: open_search(bm25_index, SearchOptions(algorithm=a)).search(QUERIES[0], k=5)
               for a in ALGORITHM_CHOICES}
    expected = [(h.id, h.score) for h in results["exhaustive"].hits]
    assert expected and all([(h.id, h.score) for h in r.hits] == expected for r in results.values())


def test_approximate_search_keeps_exact_scores(bm25_index):
    exact = open_search(bm25_index)
    approximate = exact.using(SearchOptions(algorithm="block_max_maxscore", heap_factor=0.5))
    for query in QUERIES:
        full = {h.id: h.score for h in exact.search(query, k=1000).hits}
        for hit in approximate.search(query, k=10).hits:
            assert full[hit.id] == hit.score


def test_query_cut_scores_exactly_the_kept_terms(bm25_index):
    index = InvertedIndex(bm25_index)
    segment = SegmentSearcher(index)
    exact = SearchOptions(algorithm="exhaustive")
    vectors = index.load_encoder().encode_queries(QUERIES)
    for algorithm in ALGORITHM_CHOICES:
        cut = SearchOptions(algorithm=algorithm, query_cut=2)
        whole = SearchOptions(algorithm=algorithm, query_cut=1000)
        for i in range(vectors.shape[0]):
            row = vectors[i]
            row.sort_indices()
            bounds = row.data * index.term_max[row.indices]
            kept = row.copy()
            kept.data[np.argsort(-bounds, kind="stable")[2:]] = 0
            want, got = segment.rank_one(kept, 10, exact), segment.rank_one(row, 10, cut)
            np.testing.assert_array_equal(got.nums, want.nums)
            np.testing.assert_array_equal(got.scores, want.scores)
            np.testing.assert_array_equal(segment.rank_one(row, 10, whole).nums, segment.rank_one(row, 10, exact).nums)


def test_bad_algorithm_and_heap_factor_are_refused_with_the_valid_values():
    with pytest.raises(LexirError, match="auto, exhaustive, maxscore, block_max_maxscore"):
        SearchOptions(algorithm="wand")
    for bad in (0, 1.5, -1):
        with pytest.raises(LexirError, match=r"\(0, 1\]"):
            SearchOptions(heap_factor=bad)
    with pytest.raises(LexirError, match="pruning algorithm"):
        SearchOptions(algorithm="exhaustive", heap_factor=0.5)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(LexirError, match="query cut"):
            SearchOptions(query_cut=bad)


def test_auto_takes_maxscore_for_lists_short_for_the_index_and_exhaustive_otherwise():
    offsets = np.array([0, 10, 20, 1020, 1025], dtype=np.int64)
    assert choose(offsets, np.array([0, 1, 3]), 100) == EXHAUSTIVE  # 25 postings >= 0.2 x 100 docs
    assert choose(offsets, np.array([0, 1, 3]), 126) == MAXSCORE  # 25 < 0.2 x 126
    assert choose(offsets, np.array([2]), 4_999) == EXHAUSTIVE  # 1,000 >= 0.2 x 4,999
    assert choose(offsets, np.array([2]), 5_001) == MAXSCORE
    big = np.array([0, 400_000, 700_000], dtype=np.int64)  # a larger index takes MaxScore up to a larger fraction
    assert choose(big, np.array([0, 1]), LARGE_INDEX_DOCS) == EXHAUSTIVE  # 700k >= 0.5 x 1M
    assert choose(big, np.array([0]), LARGE_INDEX_DOCS) == MAXSCORE  # 400k < 0.5 x 1M
    assert choose(big, np.array([0]), LARGE_INDEX_DOCS - 1) == EXHAUSTIVE  # 400k >= 0.2 x (1M - 1)
    assert (MAXSCORE_BELOW_POSTINGS_PER_DOC, MAXSCORE_BELOW_POSTINGS_PER_DOC_LARGE) == (0.2, 0.5)
    huge = np.array([0, 9_000_000], dtype=np.int64)  # MS MARCO's size: MaxScore even for lists past num_docs
    assert choose(huge, np.array([0]), HUGE_INDEX_DOCS) == MAXSCORE
    assert choose(huge, np.array([0]), HUGE_INDEX_DOCS - 1) == EXHAUSTIVE


def test_cli_algorithm_option(bm25_index):
    run = [sys.executable, "-m", "lexir", "search", str(bm25_index), "vitamin d", "--json"]
    good = subprocess.run([*run, "--algorithm", "maxscore"], capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    bad = subprocess.run([*run, "--algorithm", "wand"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "block_max_maxscore" in bad.stderr and "Traceback" not in bad.stderr
