"""Pseudo-relevance feedback: RM3 and Rocchio checked by hand on tiny indexes, behind the one front door."""

from __future__ import annotations

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.errors import LexirError
from lexir.index import build_index
from lexir.search import SearchOptions, open_search
from lexir.search.feedback import (
    Feedback,
    interpolate,
    largest,
    relevance_model,
    rm3_counts,
    rm3_term_ids,
    rocchio_model,
    term_counts,
)
from tests.helpers import write_jsonl

# 20 documents: "apple" in d0 only, "banana" in d0 and d19; every other word in one document.
DOCUMENTS = [("d0", "", "apple banana"), ("d19", "", "banana cherry")] + [
    (f"d{i}", "", f"filler{chr(96 + i)} other{chr(96 + i)}") for i in range(1, 19)]


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feedback")
    build_index(Corpus(str(write_jsonl(folder / "docs.jsonl", DOCUMENTS))), create_encoder("bm25"),
                folder / "index", progress=False)
    return folder / "index"


def test_relevance_model_by_hand():
    # d1: counts {1: 2, 2: 2}, score 2 -> {1: 1, 2: 1}; d2: {2: 1, 3: 3}, score 1 -> {2: .25, 3: .75}
    model = relevance_model([{1: 2.0, 2: 2.0}, {2: 1.0, 3: 3.0}], [2.0, 1.0], terms=2)
    assert model == pytest.approx({2: 1.25 / 2.25, 1: 1.0 / 2.25})
    assert relevance_model([{}, {4: 2.0}], [5.0, 1.0], terms=10) == {4: 1.0}  # an empty document adds nothing


def test_rocchio_model_by_hand():
    # each cut to 2 terms and scaled to sum 1: {1: .75, 2: .25} and {2: .5, 3: .5}; mean {1: .375, 2: .375, 3: .25}
    model = rocchio_model([{1: 3.0, 2: 1.0, 9: 0.5}, {2: 2.0, 3: 2.0}], terms=2)
    assert model == pytest.approx({1: 0.5, 2: 0.5})  # ties keep the lower term id; 3 is cut


def test_interpolation_and_cuts():
    assert interpolate({1: 3.0, 5: 1.0}, {5: 0.5, 7: 0.5}, 0.5) == pytest.approx({1: 0.375, 5: 0.375, 7: 0.25})
    assert interpolate({1: 2.0}, {}, 0.3) == pytest.approx({1: 0.3})
    assert largest({4: 1.0, 2: 1.0, 3: 5.0, 8: 0.0}, 2) == {3: 5.0, 2: 1.0}


def test_rm3_document_filters():
    ids = rm3_term_ids(["ab", "x", "a-b", "common", "rare", "title:rare"])
    assert ids == {"ab": 0, "common": 3, "rare": 4}
    counts = term_counts(["ab", "ab", "x", "a-b", "common", "rare", "unknown"], ids)
    # one character, non [a-z0-9] and unknown terms are not fed back; most frequent first, ties by term id
    assert counts.ids.tolist() == [0, 3, 4] and counts.counts.tolist() == [2.0, 1.0, 1.0]
    common = np.array([False, False, False, True, False])
    assert rm3_counts(counts, common, terms=1) == {0: 2.0}
    assert rm3_counts(counts, common, terms=5) == {0: 2.0, 4: 1.0}


def test_rm3_expands_bm25_query_with_feedback_terms(bm25_index):
    plain = open_search(bm25_index)
    assert [hit.id for hit in plain.search("apple").hits] == ["d0"]
    rm3 = open_search(bm25_index, SearchOptions(prf=Feedback("rm3", docs=10, terms=10, weight=0.5)))
    retriever = rm3.retrievers["sparse"]
    queries = retriever.encode(["apple"])
    first = [retriever.inner.rank(queries, 10, rm3.options)[0]]
    expanded = retriever.expand(queries, first)
    # d0 alone feeds back: {appl: .5, banana: .5}; query {appl: 1}; weight .5 -> {appl: .75, banana: .25}
    assert expanded.terms(0) == pytest.approx({"appl": 0.75, "banana": 0.25})
    assert [hit.id for hit in rm3.search("apple").hits] == ["d0", "d19"]


def test_rocchio_reads_stored_vectors(bm25_index):
    searcher = open_search(bm25_index, SearchOptions(prf=Feedback("rocchio", docs=1, terms=10, weight=0.25)))
    retriever = searcher.retrievers["sparse"]
    queries = retriever.encode(["apple"])
    expanded = retriever.expand(queries, [retriever.inner.rank(queries, 1, searcher.options)[0]])
    encoder = retriever.inner.encoder
    stored = encoder.encode_documents(["apple banana"])  # d0's exact impacts; the index holds them quantized
    weights = dict(zip((encoder.vocabulary[t] for t in stored.indices), stored.data / stored.data.sum()))
    expected = {"appl": 0.25 + 0.75 * weights["appl"], "banana": 0.75 * weights["banana"]}
    assert expanded.terms(0) == pytest.approx(expected, rel=1e-2)
    assert [hit.id for hit in searcher.search("apple").hits] == ["d0", "d19"]


def test_feedback_settings_are_checked(bm25_index, tmp_path):
    with pytest.raises(LexirError, match="unknown feedback method"):
        Feedback("bo1")
    with pytest.raises(LexirError, match="must be in \\[0, 1\\]"):
        Feedback("rm3", weight=1.5)
    with pytest.raises(LexirError, match="from 1 to"):
        Feedback("rm3", docs=0)
    with pytest.raises(LexirError, match="--dense-prf applies to the dense side"):
        SearchOptions(dense_prf=Feedback("rocchio"))
    with pytest.raises(LexirError, match="dense side takes rocchio"):
        SearchOptions(mode="hybrid", dense_prf=Feedback("rm3"))
    with pytest.raises(LexirError, match="--prf apply to sparse search"):
        SearchOptions(mode="dense", prf=Feedback("rm3"))
    searcher = open_search(bm25_index, SearchOptions(prf=Feedback("rm3")))
    with pytest.raises(LexirError, match="open another Searcher"):
        searcher.using(SearchOptions())


def test_rm3_is_refused_without_term_counts(bm25_index):
    from types import SimpleNamespace

    from lexir.search.feedback import FeedbackRetriever

    learned = SimpleNamespace(kind="sparse", live=None, spec=SimpleNamespace(kind="splade"))
    with pytest.raises(LexirError, match="rm3 needs term counts.*use --prf rocchio"):
        FeedbackRetriever(learned, Feedback("rm3"))
    FeedbackRetriever(learned, Feedback("rocchio"))  # any sparse index has stored vectors


def test_auto_feedback_gives_each_sparse_side_its_method(bm25_index):
    from types import SimpleNamespace

    from lexir.search.feedback import FeedbackRetriever

    learned = SimpleNamespace(kind="sparse", live=None, spec=SimpleNamespace(kind="splade"))
    assert FeedbackRetriever(learned, Feedback("auto", docs=3)).feedback == Feedback("rocchio", docs=3)
    auto = open_search(bm25_index, SearchOptions(prf=Feedback("auto")))
    assert auto.retrievers["sparse"].feedback.method == "rm3"
    rm3 = open_search(bm25_index, SearchOptions(prf=Feedback("rm3")))
    assert auto.search("apple").hits == rm3.search("apple").hits


def test_dense_rocchio_moves_the_query_to_the_top_documents(dense_index, minilm):
    options = SearchOptions(mode="dense", dense_prf=Feedback("rocchio", docs=2, weight=0.6))
    searcher = open_search(dense_index, options, dense_encoder=minilm)
    retriever = searcher.retrievers["dense"]
    queries = retriever.encode(["strong bones and sunlight"])
    first = [retriever.inner.rank(queries, 2, options)[0]]
    moved = retriever.expand(queries, first).vectors[0]
    faiss_index = retriever.inner.segment("").dense.faiss_index
    mean = np.mean([faiss_index.reconstruct(int(num)) for num in first[0].nums], axis=0)
    expected = 0.6 * queries.vectors[0] + 0.4 * mean
    assert moved == pytest.approx(expected / np.linalg.norm(expected), abs=1e-6)
    assert len(searcher.search("strong bones and sunlight", k=3).hits) == 3


def test_api_takes_feedback_settings(bm25_index, dense_index, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from lexir.api.app import create_app

    copy = tmp_path / "index"
    shutil.copytree(bm25_index, copy)
    with TestClient(create_app(copy)) as client:
        plain = client.get("/search", params={"q": "apple"}).json()
        expanded = client.post("/search", json={"q": "apple", "prf": "rm3", "prf_docs": 5}).json()
        assert [hit["id"] for hit in plain["hits"]] == ["d0"]
        assert [hit["id"] for hit in expanded["hits"]] == ["d0", "d19"]
        assert client.post("/search", json={"q": "apple", "prf": "bo1"}).status_code == 422
        assert client.post("/search", json={"q": "apple", "prf": "rm3", "prf_weight": 2}).status_code == 422
    shutil.copytree(dense_index, tmp_path / "hybrid")  # the shared fixture stays read-only
    with TestClient(create_app(tmp_path / "hybrid")) as client:
        moved = client.post("/search", json={"q": "strong bones", "mode": "hybrid", "dense_prf": True, "k": 3})
        assert moved.status_code == 200 and len(moved.json()["hits"]) == 3
