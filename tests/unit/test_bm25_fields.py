"""BM25 with a title field (encoders/bm25_fields.py): scores worked by hand against the formula, the plain BM25
it reduces to at weight 0, the index built from titles, live writes, and the CLI's --title-weight."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.encoders import BM25Encoder, create_encoder
from lexir.encoders.bm25_fields import FieldedBM25Encoder
from lexir.errors import LexirError
from lexir.index import build_index
from lexir.index.format import read_manifest
from lexir.search import open_search
from tests.helpers import lexir, write_jsonl

# (title, contents): contents is what plain BM25 indexes (title and text joined)
DOCS = [("cat", "cat sat mat"), ("dog", "cat cat dog"), ("", "bird cat")]
K1, B = 1.2, 0.75


def _bm25(tf: float, df: int, n: int, length: int, average: float) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + K1 * (1 - B + B * length / average))


def _fitted(title_weight: float) -> FieldedBM25Encoder:
    encoder = FieldedBM25Encoder(k1=K1, b=B, title_weight=title_weight)
    encoder.fit(DOCS)
    return encoder


def test_each_field_is_scored_on_its_own_statistics():
    encoder = _fitted(0.5)
    assert encoder.vocabulary == ["bird", "cat", "dog", "mat", "sat", "title:cat", "title:dog"]
    assert encoder.avg_doc_length == pytest.approx(8 / 3) and encoder.avg_title_length == pytest.approx(2 / 3)
    query = encoder.encode_queries(["cat"])
    scores = (query @ encoder.encode_documents(DOCS).T).toarray()[0]
    # contents: "cat" in all 3 documents; title: "cat" in 1 of 3 titles, lengths 1, 1, 0 (average 2/3)
    expected = [_bm25(1, 3, 3, 3, 8 / 3) + 0.5 * _bm25(1, 1, 3, 1, 2 / 3),
                _bm25(2, 3, 3, 3, 8 / 3),
                _bm25(1, 3, 3, 2, 8 / 3)]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    np.testing.assert_allclose(query.toarray()[0], [0, 1, 0, 0, 0, 0.5, 0])


def test_weight_zero_is_plain_bm25():
    fielded, plain = _fitted(0.0), BM25Encoder(k1=K1, b=B)
    plain.fit([contents for _, contents in DOCS])
    queries = ["cat dog", "bird mat"]
    np.testing.assert_allclose((fielded.encode_queries(queries) @ fielded.encode_documents(DOCS).T).toarray(),
                               (plain.encode_queries(queries) @ plain.encode_documents(
                                   [contents for _, contents in DOCS]).T).toarray(), rtol=1e-6)


def test_state_and_spec_round_trip(tmp_path):
    encoder = _fitted(0.3)
    encoder.save_state(tmp_path)
    loaded = FieldedBM25Encoder.from_spec(encoder.spec)
    loaded.load_state(tmp_path)
    assert loaded.spec == encoder.spec and loaded.spec.params["title_weight"] == 0.3
    assert loaded.avg_title_length == encoder.avg_title_length
    np.testing.assert_array_equal(loaded.encode_documents(DOCS).toarray(), encoder.encode_documents(DOCS).toarray())


def test_bad_title_weight_is_refused():
    with pytest.raises(LexirError, match="title weight"):
        FieldedBM25Encoder(title_weight=-1)
    with pytest.raises(LexirError, match="does not take title_weight"):
        create_encoder("bm25", title_weight=0.5)


def _corpus(tmp_path):
    return write_jsonl(tmp_path / "docs.jsonl", [("d1", "Heart disease", "Statins lower cholesterol."),
                                                 ("d2", "Statins", "Heart attacks and cholesterol."),
                                                 ("d3", "", "Diet and exercise.")])


def test_index_built_from_titles_ranks_the_title_match_first(tmp_path):
    for weight, first in ((0.0, "d2"), (2.0, "d1")):
        folder = tmp_path / f"w{weight}"
        build_index(Corpus(str(_corpus(tmp_path))), create_encoder("bm25-title", title_weight=weight), folder,
                    progress=False)
        hits = open_search(folder).search("heart", k=3)
        assert hits.hits[0].id == first, (weight, [hit.id for hit in hits.hits])


def test_live_write_indexes_new_title_words(tmp_path):
    from lexir.corpus import Document
    from lexir.index.live import LiveIndex

    build_index(Corpus(str(_corpus(tmp_path))), create_encoder("bm25-title"), tmp_path / "ix", progress=False)
    live = LiveIndex(tmp_path / "ix")
    live.add([Document("d4", "Zebrafish", "A model organism.")])
    hits = open_search(tmp_path / "ix").search("zebrafish", k=3)
    assert [hit.id for hit in hits.hits] == ["d4"]


def test_cli_builds_with_a_title_weight(tmp_path):
    result = lexir("index", "build", _corpus(tmp_path), "--encoder", "bm25-title", "--title-weight", "0.4",
                   "--out", tmp_path / "ix", "--quiet")
    assert result.code == 0, result.stderr
    assert read_manifest(tmp_path / "ix").encoder.params["title_weight"] == 0.4
    refused = lexir("index", "build", _corpus(tmp_path), "--encoder", "bm25", "--title-weight", "0.4",
                    "--out", tmp_path / "ix2", "--quiet", check=False)
    assert refused.code != 0 and "does not take title_weight" in refused.stderr
