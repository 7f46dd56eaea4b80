"""BM25 encoder: analyzer, hand-computed impacts, state round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lexir.encoders import BM25Encoder, create_encoder
from lexir.encoders.analyzer import _POSSESSIVE, _TOKEN, LUCENE_ENGLISH_STOPWORDS, EnglishAnalyzer
from lexir.errors import LexirError


def test_analyzer_lowercases_stems_and_drops_stopwords():
    assert EnglishAnalyzer()("The Runners' running and the dog's toys!") == ["runner", "run", "dog", "toi"]


def _unremembered(text: str) -> list[str]:
    """The analysis without the analyzer's memo: each token through the possessive rule, stopwords, stemmer."""
    import Stemmer

    words = [_POSSESSIVE.sub("", token) for token in _TOKEN.findall(text.lower())]
    return Stemmer.Stemmer("porter").stemWords([word for word in words if word not in LUCENE_ENGLISH_STOPWORDS])


def test_remembered_analysis_equals_the_analysis_itself(monkeypatch):
    """The memo changes no term: repeated and new tokens, stopwords, possessives, and Porter's empty stem of "s";
    a full memo starts anew; a pickled analyzer carries no memo."""
    import pickle

    texts = ["The dog's toys and the dogs' toys", "s is a letter; the S's too", "Running runs RAN, run's runner",
             "Ünïcode wörds and 42 numbers", "", "dog toys s"]
    analyzer = EnglishAnalyzer()
    for text in texts * 2:
        assert analyzer(text) == _unremembered(text)
    assert analyzer("s") == [""] == _unremembered("s")
    monkeypatch.setattr("lexir.encoders.analyzer.MEMO_SIZE", 4)
    small = EnglishAnalyzer()
    bound = max(len(set(_TOKEN.findall(text.lower()))) for text in texts)  # one text's tokens, never the sum
    for text in texts:
        assert small(text) == _unremembered(text)
        assert len(small._memo) <= bound
    copy = pickle.loads(pickle.dumps(analyzer))
    assert copy._memo == {} and copy(texts[0]) == _unremembered(texts[0])


def test_impacts_match_hand_computed_bm25():
    corpus = ["cat sat mat", "cat cat dog", "bird"]
    encoder = BM25Encoder(k1=1.2, b=0.75)
    encoder.fit(corpus)
    assert encoder.vocabulary == ["bird", "cat", "dog", "mat", "sat"]
    avgdl = (3 + 3 + 1) / 3
    # doc 1: "cat" tf=2, dl=3; df(cat)=2, N=3
    idf_cat = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    expected = idf_cat * 2 / (2 + 1.2 * (1 - 0.75 + 0.75 * 3 / avgdl))
    row = encoder.encode_documents([corpus[1]])
    assert row[0, 1] == pytest.approx(expected, rel=1e-6)
    query = encoder.encode_queries(["cat cat unknownword dog"]).toarray()[0]
    np.testing.assert_array_equal(query, [0, 2, 1, 0, 0])


def test_state_round_trip_gives_same_vectors(tmp_path):
    encoder = create_encoder("bm25")
    encoder.fit(["alpha beta", "beta gamma gamma"])
    encoder.save_state(tmp_path)
    loaded = create_encoder("bm25")
    loaded.load_state(tmp_path)
    assert loaded.spec == encoder.spec
    np.testing.assert_array_equal(loaded.encode_documents(["gamma beta"]).toarray(),
                                  encoder.encode_documents(["gamma beta"]).toarray())


def test_unfitted_and_empty_corpus_are_errors():
    with pytest.raises(LexirError, match="fitted"):
        BM25Encoder().encode_queries(["x"])
    with pytest.raises(LexirError, match="empty corpus"):
        BM25Encoder().fit([])
    with pytest.raises(LexirError, match="k1"):
        BM25Encoder(b=2.0)
