"""Indexes built from pre-encoded vectors (JsonVectorCollection, CIFF) and searched with query vectors or a query
encoder: the same results as an index built from the texts, integer weights kept exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lexir.corpus import Corpus, Document
from lexir.encoders.vectors import VectorsEncoder
from lexir.errors import LexirError
from lexir.formats.jsonvector import JsonVectorCollection, write_jsonvector
from lexir.index import InvertedIndex, build_index
from lexir.index.live import LiveIndex
from lexir.search import open_search
from tests.helpers import assert_one_line_error, lexir, write_beir_folder, write_jsonl
from tests.texts import DOCUMENTS, QUERIES
from tests.unit.test_vector_formats import IDS, POSTINGS, write_sample_ciff

SMALL = [("a", {"cat": 3, "dog": 2}, "a cat and a dog"), ("b", {"dog": 5}, ""), ("c", {"fish": 1, "cat": 1}, "fish")]


def many_documents(count: int = 200) -> list[tuple[str, str, str]]:
    """`count` distinct documents made of two of tests/texts.py's documents each."""
    pairs = [(i, j) for i in range(len(DOCUMENTS)) for j in range(len(DOCUMENTS))][:count]
    return [(f"m{i}-{j}", DOCUMENTS[i][1], f"{DOCUMENTS[i][2]} {DOCUMENTS[j][2]}") for i, j in pairs]


def as_vectors(matrix, vocabulary) -> list[dict[str, float]]:
    return [{vocabulary[t]: float(w) for t, w in zip(row.indices, row.data)} for row in matrix]


def query_vectors(queries: list[str]) -> list[dict[str, float]]:
    """splade-tiny's query vectors as a searcher's own encoder makes them (its default batch size: other batches pad
    queries differently, which moves float32 weights in their last bits)."""
    from lexir.encoders import create_encoder

    encoder = create_encoder("splade-tiny")
    return as_vectors(encoder.encode_queries(queries), encoder.vocabulary)


def top(searcher, queries, k=10):
    return [(list(ranking.keys), ranking.scores.tolist()) for ranking in searcher.rank(queries, k)]


# own vocabulary, no query encoder ------------------------------------------------------------------------------

def test_integer_weights_are_kept_exactly_and_queries_come_as_vectors(tmp_path):
    write_jsonvector(tmp_path / "v.jsonl", SMALL)
    lexir("index", "build", tmp_path / "v.jsonl", "--out", tmp_path / "index", "--quiet")
    index = InvertedIndex(tmp_path / "index")
    assert index.manifest.encoder.kind == "vectors" and index.manifest.encoder.params == {"query_encoder": None}
    assert index.quantizer.scale == 1.0
    assert index.load_encoder().vocabulary == ["cat", "dog", "fish"]  # sorted
    for term, expected in [(0, ([0, 2], [3, 1])), (1, ([0, 1], [2, 5])), (2, ([2], [1]))]:
        doc_ids, impacts = index.postings(term)
        assert (doc_ids.tolist(), impacts.tolist()) == expected
    found = lexir("search", tmp_path / "index", "--query-vector", '{"dog": 2, "unknown": 9}', "--json").json()
    assert [(hit["id"], hit["score"]) for hit in found["hits"]] == [("b", 10.0), ("a", 4.0)]
    stored = lexir("search", tmp_path / "index", "--query-vector", '{"fish": 1}', "--json", "--text").json()
    assert stored["hits"][0]["text"] == "fish"  # contents kept in the document store
    assert_one_line_error(lexir("search", tmp_path / "index", "cat", check=False),
                          "pre-encoded vectors without a query encoder", "--query-vector")
    with pytest.raises(LexirError, match="query term weights must be finite and not negative"):
        open_search(tmp_path / "index").search({"cat": float("nan")})
    live = LiveIndex(tmp_path / "index")
    with pytest.raises(LexirError, match="takes pre-encoded documents"):  # the HTTP API's writes are texts
        live.add([Document("d", "", "a text")])
    live.delete(["b"])
    found = open_search(live).search({"dog": 2})
    assert [(hit.id, hit.score) for hit in found.hits] == [("a", 4.0)]


def test_a_build_without_query_encoder_reads_the_file_twice_with_a_bar_on_each_pass(tmp_path, monkeypatch, capsys):
    """One pass learns the vocabulary, the next encodes: both show progress, and the second knows its total from
    the first (no third pass to count lines)."""
    import lexir.corpus
    import lexir.index.builder

    monkeypatch.setattr(lexir.index.builder, "VOCABULARY_BAR_DELAY", 0)  # (it waits 1 s to show: a build of 120 docs)
    write_jsonvector(tmp_path / "v.jsonl.gz", [(f"{doc_id}{i}", vector, text) for i in range(40)
                                               for doc_id, vector, text in SMALL])
    opened = []
    real_open = lexir.corpus._open_lines
    monkeypatch.setattr(lexir.corpus, "_open_lines", lambda path: opened.append(path) or real_open(path))
    corpus = JsonVectorCollection(tmp_path / "v.jsonl.gz")
    build_index(corpus, VectorsEncoder(), tmp_path / "index", chunk_size=50)
    assert opened == [tmp_path / "v.jsonl.gz"] * 2
    bars = capsys.readouterr().err
    assert "vocabulary: 120doc" in bars.split("encoding")[0]
    assert "encoding: 100%" in bars and "120/120" in bars
    assert InvertedIndex(tmp_path / "index").num_docs == 120


@pytest.mark.parametrize(("weights", "integral_scale"), [({"cat": 0.5, "dog": 2.0}, False), ({"cat": 300}, False),
                                                        ({"cat": 3.0, "dog": 255}, True)])
def test_weights_that_are_not_small_integers_are_quantized_like_encoder_output(tmp_path, weights, integral_scale):
    write_jsonvector(tmp_path / "v.jsonl", [("a", weights, ""), ("b", {"cat": 1}, "")])
    build_index(JsonVectorCollection(tmp_path / "v.jsonl"), VectorsEncoder(), tmp_path / "index", progress=False)
    scale = InvertedIndex(tmp_path / "index").quantizer.scale
    assert (scale == 1.0) == integral_scale
    if not integral_scale:
        assert scale == pytest.approx(max(weights.values()) / 255)


def test_bad_vector_lines_stop_the_build_or_are_skipped(tmp_path):
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps({"id": "a", "vector": {"x": 1}}) + "\n" + json.dumps({"id": "b", "vector": {"x": -1}})
                    + "\n", encoding="utf-8")
    assert_one_line_error(lexir("index", "build", path, "--out", tmp_path / "index", "--quiet", check=False),
                          f"{path}:2: bad vector", "--skip-bad-lines")
    result = lexir("index", "build", path, "--out", tmp_path / "index", "--quiet", "--skip-bad-lines",
                   "--overwrite")
    assert "skipped 1 bad line: 1 bad vector" in result.stderr
    assert InvertedIndex(tmp_path / "index").num_docs == 1


def test_the_options_must_fit_the_input(tmp_path):
    write_jsonvector(tmp_path / "v.jsonl", SMALL)
    texts = write_jsonl(tmp_path / "texts.jsonl")
    assert_one_line_error(lexir("index", "build", tmp_path / "v.jsonl", "--out", tmp_path / "i", "--encoder", "bm25",
                                check=False), "pre-encoded vectors (jsonvector)", "--query-encoder")
    assert_one_line_error(lexir("index", "build", texts, "--out", tmp_path / "i", "--query-encoder", "splade-tiny",
                                check=False), "--query-encoder is for pre-encoded vectors")
    assert_one_line_error(lexir("index", "build", tmp_path / "v.jsonl", "--out", tmp_path / "i", "--query-encoder",
                                "bm25", check=False), "'bm25' cannot be the query encoder")
    assert_one_line_error(lexir("search", tmp_path, "--query-vector", '{"a": "x"}', check=False),
                          "--query-vector: bad vector")
    assert_one_line_error(lexir("search", tmp_path, "--query-vector", "{oops", check=False),
                          "--query-vector is not JSON")
    assert_one_line_error(lexir("search", tmp_path, "--queries", tmp_path / "v.jsonl", check=False),
                          "--queries writes a TREC run file")
    assert_one_line_error(lexir("search", tmp_path, "x", "--query-vector", "{}", check=False), "not both")


def test_a_vector_build_resumes(tmp_path):
    write_jsonvector(tmp_path / "v.jsonl", [(f"d{i}", {f"t{i % 7}": i % 5 + 1, "all": 1}, "") for i in range(50)])
    source = JsonVectorCollection(tmp_path / "v.jsonl")
    build_index(source, VectorsEncoder(), tmp_path / "whole", chunk_size=8, progress=False)

    class Interrupted(Exception):
        pass

    def stop_after(documents, count):
        for number, document in enumerate(documents):
            if number == count:
                raise Interrupted
            yield document

    class Failing(JsonVectorCollection):
        """Read whole once (the vocabulary is fitted), then interrupted while chunks are encoded."""

        passes = 0

        def __iter__(self):
            self.passes += 1
            return stop_after(super().__iter__(), 20 if self.passes == 2 else 10**9)

    with pytest.raises(Interrupted):
        build_index(Failing(tmp_path / "v.jsonl"), VectorsEncoder(), tmp_path / "resumed", chunk_size=8,
                    progress=False)
    report = build_index(JsonVectorCollection(tmp_path / "v.jsonl"), VectorsEncoder(), tmp_path / "resumed",
                         chunk_size=8, progress=False, resume=True)
    assert report.resumed_chunks == 2
    whole, resumed = InvertedIndex(tmp_path / "whole"), InvertedIndex(tmp_path / "resumed")
    assert resumed.quantizer == whole.quantizer and resumed.quantizer.scale == 1.0
    assert np.array_equal(resumed.doc_ids, whole.doc_ids) and np.array_equal(resumed.impacts, whole.impacts)


# CIFF ----------------------------------------------------------------------------------------------------------

def test_a_ciff_file_becomes_an_index_with_its_integers_and_term_order(tmp_path):
    path = write_sample_ciff(tmp_path / "sample.ciff")
    lexir("index", "build", path, "--out", tmp_path / "index", "--quiet")
    index = InvertedIndex(tmp_path / "index")
    assert index.quantizer.scale == 1.0 and index.num_docs == len(IDS)
    assert list(index.load_encoder().vocabulary) == list(POSTINGS)  # the file's term order
    for term, (docs, tfs) in enumerate(POSTINGS.values()):
        doc_ids, impacts = index.postings(term)
        assert doc_ids.tolist() == docs and impacts.tolist() == tfs
    found = lexir("search", tmp_path / "index", "--query-vector", '{"apple": 1, "date": 1}', "--json").json()
    assert [hit["id"] for hit in found["hits"]] == ["doc-e", "doc-a", "doc-d", "doc-f"]
    assert not [entry for entry in tmp_path.iterdir() if entry.name.startswith(".lexir-ciff-")]  # work removed


def test_ciff_with_skip_bad_lines_is_refused(tmp_path):
    path = write_sample_ciff(tmp_path / "sample.ciff")
    assert_one_line_error(lexir("index", "build", path, "--out", tmp_path / "index", "--skip-bad-lines",
                                check=False), "--skip-bad-lines is for JSONL files")


# with a query encoder: the same as the index built from the texts ------------------------------------------------

@pytest.fixture(scope="module")
def encoded(tmp_path_factory, splade_tiny, one_torch_thread):
    """~200 documents indexed from their texts with splade-tiny, and the same documents' splade-tiny vectors
    written as a JsonVectorCollection (with their contents)."""
    folder = tmp_path_factory.mktemp("encoded")
    documents = many_documents()
    corpus = Corpus(str(write_jsonl(folder / "texts.jsonl", documents)))
    build_index(corpus, splade_tiny, folder / "texts-index", progress=False)
    contents = [document.contents for document in corpus]
    vectors = as_vectors(splade_tiny.encode_documents(contents), splade_tiny.vocabulary)
    write_jsonvector(folder / "vectors.jsonl.gz", [(doc[0], vector, text)
                                                   for doc, vector, text in zip(documents, vectors, contents)])
    return folder


def test_vectors_with_their_query_encoder_rank_as_the_texts_do(encoded):
    lexir("index", "build", encoded / "vectors.jsonl.gz", "--query-encoder", "splade-tiny", "--out",
          encoded / "vectors-index", "--quiet")
    vectors_index = InvertedIndex(encoded / "vectors-index")
    texts_index = InvertedIndex(encoded / "texts-index")
    assert vectors_index.manifest.encoder.name == "vectors+splade-tiny"
    assert vectors_index.quantizer == texts_index.quantizer
    assert np.array_equal(vectors_index.doc_ids, texts_index.doc_ids)
    assert np.array_equal(vectors_index.impacts, texts_index.impacts)
    from_vectors, from_texts = open_search(encoded / "vectors-index"), open_search(encoded / "texts-index")
    expected = top(from_texts, QUERIES)
    assert all(len(ids) == 10 for ids, _ in expected[:4])
    assert top(from_vectors, QUERIES) == expected  # text queries through the recorded query encoder
    vectors = query_vectors(QUERIES)
    assert top(from_vectors, vectors) == expected  # pre-encoded queries, the same vectors
    assert top(from_texts, vectors) == expected
    one = lexir("search", encoded / "vectors-index", "--query-vector", json.dumps(vectors[0]), "--json").json()
    assert [hit["id"] for hit in one["hits"]] == list(expected[0][0])


def test_an_inference_free_query_side_weighs_by_the_contents(encoded, tmp_path):
    lexir("index", "build", encoded / "texts.jsonl", "--encoder", "splade-tiny-if", "--out", tmp_path / "texts",
          "--quiet")
    lexir("index", "build", encoded / "vectors.jsonl.gz", "--query-encoder", "splade-tiny-if", "--out",
          tmp_path / "vectors", "--quiet")
    assert np.array_equal(InvertedIndex(tmp_path / "vectors").text_doc_freq,
                          InvertedIndex(tmp_path / "texts").text_doc_freq)
    assert top(open_search(tmp_path / "vectors"), QUERIES) == top(open_search(tmp_path / "texts"), QUERIES)


def test_tokens_outside_the_query_encoders_vocabulary_are_one_error(tmp_path, splade_tiny):
    write_jsonvector(tmp_path / "v.jsonl", [("a", {"vitamin": 1.0, "zzqxunknown": 2.0, "Капуста": 1.0}, "")])
    result = lexir("index", "build", tmp_path / "v.jsonl", "--query-encoder", "splade-tiny", "--out",
                   tmp_path / "index", "--quiet", check=False)
    assert_one_line_error(result, "tokens 'zzqxunknown', 'Капуста' are not in the vocabulary of the query encoder "
                          "'splade-tiny'")
    assert not (tmp_path / "index").exists()


def test_eval_takes_pre_encoded_topics(encoded, tmp_path):
    documents = many_documents()
    judged = {f"q{i}": (query, {documents[7 * i][0]: 1}) for i, query in enumerate(QUERIES)}
    folder = write_beir_folder(tmp_path / "beir", {"test": judged}, documents)
    vectors = query_vectors(QUERIES)
    topics = tmp_path / "topics.jsonl"
    topics.write_text("".join(json.dumps({"id": f"q{i}", "vector": vector}) + "\n"
                              for i, vector in enumerate(vectors[:-1])), encoding="utf-8")  # the last one left out
    index = encoded / "texts-index"
    lexir("eval", folder, "--index", index, "--queries", topics, "--out", tmp_path / "vectors", "--no-progress")
    lexir("eval", folder, "--index", index, "--out", tmp_path / "texts", "--no-progress")
    from_vectors = (tmp_path / "vectors" / "run.trec").read_text().splitlines()
    from_texts = [line for line in (tmp_path / "texts" / "run.trec").read_text().splitlines()
                  if not line.startswith(f"q{len(QUERIES) - 1} ")]
    assert from_vectors == from_texts and from_vectors
    lexir("search", index, "--queries", topics, "--out", tmp_path / "search.trec", "-k", 1000, "--quiet")
    assert (tmp_path / "search.trec").read_text().splitlines() == from_vectors  # what `lexir search` writes
    result = json.loads((tmp_path / "vectors" / "result.json").read_text())
    assert result["num_queries"] == len(QUERIES) - 1
    pyserini = tmp_path / "topics.tsv"
    pyserini.write_text("q0\tvitamin vitamin d\n", encoding="utf-8")
    lexir("eval", folder, "--index", index, "--queries", pyserini, "--out", tmp_path / "tsv", "--no-progress")
    assert (tmp_path / "tsv" / "run.trec").read_text().startswith("q0 Q0 ")


def test_text_documents_cannot_be_added_to_a_vectors_encoder():
    with pytest.raises(LexirError, match="takes pre-encoded documents"):
        VectorsEncoder(vocabulary=["a"]).encode_documents(["some text"])
