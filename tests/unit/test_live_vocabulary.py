"""Words first seen in added documents are searchable at once (BM25's open vocabulary), with BM25 scores of the
live corpus, across merges, deletes and restarts (issue #16: an acknowledged document must be findable by every
one of its words)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lexir.api.app import create_app
from lexir.corpus import Corpus, Document
from lexir.encoders import create_encoder
from lexir.index import InvertedIndex, build_index
from lexir.index.live import LiveIndex
from lexir.search import SearchOptions, open_search
from tests.helpers import lexir, write_jsonl
from tests.texts import DOCUMENTS

NEW = Document("z1", "Airships", "A quasiperiodic zeppelin flutter: aeroelastic xylophone tones.")
MORE = Document("z2", "", "The zeppelin era ended in 1937.")
KEY = "vocabulary-key"


@pytest.fixture
def bm25_index(tmp_path):
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    return tmp_path / "index"


def bm25(tf: float, doc_length: int, df: int, num_docs: int, avg_length: float, k1: float = 0.9, b: float = 0.4
         ) -> float:
    idf = math.log(1 + (num_docs - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * doc_length / avg_length))


def test_new_words_are_found_at_once_with_live_bm25_scores(bm25_index):
    base = InvertedIndex(bm25_index).load_encoder()
    assert "zeppelin" not in base.vocabulary
    live = LiveIndex(bm25_index)
    live.add([NEW])
    result = open_search(bm25_index).search("zeppelin xylophone", k=3, explain=True)
    assert [hit.id for hit in result.hits] == ["z1"]
    length = len(base.analyzer(NEW.contents))
    expected = 2 * bm25(1, length, 1, len(DOCUMENTS) + 1, base.avg_doc_length)  # two new words, df 1 each
    assert result.hits[0].score == pytest.approx(expected, rel=0.02)  # 8-bit impacts
    assert set(result.hits[0].contributions) == {"zeppelin", "xylophon"}
    assert sum(result.hits[0].contributions.values()) == pytest.approx(result.hits[0].score, rel=1e-4)

    live.add([MORE])  # "zeppelin" now in two documents: its IDF falls, for both segments alike
    hits = open_search(bm25_index).search("zeppelin", k=3).hits
    assert [hit.id for hit in hits] == ["z2", "z1"]  # the shorter document first
    idf_two = math.log(1 + (len(DOCUMENTS) + 2 - 2 + 0.5) / 2.5)
    assert hits[1].score == pytest.approx(idf_two * 1 / (1 + 0.9 * (1 - 0.4 + 0.4 * length / base.avg_doc_length)),
                                          rel=0.02)
    statistics = live.snapshot().statistics
    assert statistics.added_terms[:3] == ("airship", "quasiperiod", "zeppelin")  # in order of first appearance
    assert "era" in statistics.added_terms and "the" not in statistics.added_terms  # stopwords stay out
    assert len(statistics.doc_freq) == len(base.vocabulary) + len(statistics.added_terms)


def test_old_words_and_base_documents_are_unchanged(bm25_index):
    before = [(hit.id, hit.score) for hit in open_search(bm25_index).search("vitamin d calcium", k=5).hits]
    live = LiveIndex(bm25_index)
    live.add([NEW])
    mixed = open_search(bm25_index).search("vitamin zeppelin", k=5).hits
    assert "z1" in [hit.id for hit in mixed] and "d0" in [hit.id for hit in mixed]
    live.delete(["z1"])  # the words stay in the vocabulary, with no document
    after = open_search(bm25_index).search("vitamin d calcium", k=5).hits
    assert [hit.id for hit in after] == [doc_id for doc_id, _ in before]
    assert [hit.score for hit in after] == pytest.approx([score for _, score in before], rel=1e-6)
    assert open_search(bm25_index).search("zeppelin", k=3).hits == []


def test_merges_and_restarts_keep_the_grown_vocabulary(bm25_index):
    live = LiveIndex(bm25_index, max_segments=1)
    live.add([NEW])
    live.add([MORE])  # over the policy: merged into one segment
    assert len(live.snapshot().commit.segments) == 1
    merged = [(hit.id, hit.score) for hit in open_search(bm25_index).search("zeppelin xylophone", k=3).hits]
    assert [doc_id for doc_id, _ in merged] == ["z1", "z2"]
    restarted = open_search(LiveIndex(bm25_index)).search("zeppelin xylophone", k=3).hits
    assert [(hit.id, hit.score) for hit in restarted] == merged
    LiveIndex(bm25_index).add([Document("z3", "", "xylophone lessons")])
    assert open_search(bm25_index).search("xylophone", k=3).hits[0].id == "z3"
    lexir("index", "check", bm25_index)  # asserts success: every segment's vocabulary matches its arrays


def test_a_word_added_over_http_is_searchable_at_once(bm25_index):
    """The issue's case: POST /documents acknowledged, then GET /search finds it by its new words."""
    with TestClient(create_app(bm25_index, api_key=KEY)) as client:
        added = client.post("/documents", json={"documents": [{"id": NEW.id, "title": NEW.title, "text": NEW.text}]},
                            headers={"X-API-Key": KEY})
        assert added.status_code == 200
        hits = client.get("/search", params={"q": "zeppelin xylophone"}).json()["hits"]
        assert [hit["id"] for hit in hits] == ["z1"]


def test_a_model_vocabulary_does_not_grow(tmp_path, splade_tiny):
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS[:4]))), splade_tiny, tmp_path / "index",
                progress=False)
    live = LiveIndex(tmp_path / "index", encoder=splade_tiny)
    live.add([NEW])
    assert live.snapshot().added_terms == () and splade_tiny.added_terms == ()
    assert np.asarray(live.snapshot().statistics.doc_freq).shape == (len(splade_tiny.vocabulary),)
    assert open_search(tmp_path / "index", encoder=splade_tiny).search("zeppelin", k=1).hits[0].id == "z1"


def test_queries_as_term_maps_reach_appended_words(bm25_index):
    LiveIndex(bm25_index).add([NEW])
    searcher = open_search(bm25_index, SearchOptions(algorithm="exhaustive"))
    assert [hit.id for hit in searcher.search({"zeppelin": 1.0}, k=2).hits] == ["z1"]
