"""`lexir index export`: document-major reading in bounded ranges, and the JsonVectorCollection, CIFF and
OpenSearch files checked against the index they come from (and, for OpenSearch, against the documented shapes:
no OpenSearch server runs here)."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest
import scipy.sparse as sp

from lexir.corpus import Corpus, Document
from lexir.encoders import create_encoder
from lexir.errors import IndexFormatError
from lexir.export import export_index
from lexir.formats.ciff import CiffReader, decoded_postings
from lexir.formats.jsonvector import JsonVectorCollection
from lexir.index import InvertedIndex, build_index
from lexir.index.forward import document_ranges, document_rows
from lexir.index.live import LiveIndex
from tests.helpers import assert_one_line_error, lexir, write_jsonl
from tests.texts import DOCUMENTS

STOPWORDS_ONLY = ("d12", "", "the and of it")  # a document whose vector is empty (BM25 drops stopwords)


def _build(folder, encoder="bm25", documents=(*DOCUMENTS, STOPWORDS_ONLY), **options):
    corpus = Corpus(str(write_jsonl(folder / "docs.jsonl", documents)))
    build_index(corpus, create_encoder(encoder), folder / "index", chunk_size=5, progress=False, **options)
    return folder / "index"


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("bm25"))


def _matrix(index: InvertedIndex) -> sp.csr_matrix:
    """The index's documents as rows of quantized impacts (the CSC of its postings, turned)."""
    by_term = sp.csc_matrix((np.asarray(index.impacts), np.asarray(index.doc_ids), np.asarray(index.offsets)),
                            shape=(index.num_docs, index.num_terms))
    rows = by_term.tocsr()
    rows.sort_indices()
    return rows


@pytest.mark.parametrize("budget", [1, 7, 40, 10**9])
def test_document_rows_are_the_postings_turned_document_major_in_ranges_within_the_budget(bm25_index, budget):
    index = InvertedIndex(bm25_index)
    expected = _matrix(index)
    batches = list(document_rows(index, max_postings=budget))
    assert [batch.first for batch in batches] == [first for first, _ in document_ranges(index.doc_nnz, budget)]
    assert sum(len(batch) for batch in batches) == index.num_docs
    for batch in batches:
        assert len(batch) == 1 or batch.indptr[-1] <= budget  # a range exceeds the budget only as one document
        for i in range(len(batch)):
            terms, impacts = batch.row(i)
            row = expected[batch.first + i]
            np.testing.assert_array_equal(terms, row.indices)  # ascending term order within each document
            np.testing.assert_array_equal(impacts, row.data)
    assert index.doc_nnz[-1] == 0 and len(batches[-1].row(len(batches[-1]) - 1)[0]) == 0


def test_document_ranges_cut_by_postings():
    assert document_ranges(np.array([3, 3, 3, 10, 0, 1]), 6) == [(0, 2), (2, 3), (3, 4), (4, 6)]
    assert document_ranges(np.array([], dtype=np.int32), 5) == []
    with pytest.raises(ValueError):
        document_ranges(np.array([1]), 0)


def test_a_posting_past_the_documents_is_reported_not_exported(bm25_index, tmp_path):
    damaged = tmp_path / "index"
    shutil.copytree(bm25_index, damaged)
    words = np.load(damaged / "doc_blocks.npy", mmap_mode="r+")
    words[0] = 0xFFFFFFFF  # 31-bit gaps past the block and every document; opening checks shapes, not contents
    words.flush()
    del words
    with pytest.raises(IndexFormatError, match="damaged|disagrees|past num_docs"):
        list(document_rows(InvertedIndex(damaged), max_postings=5))
    assert_one_line_error(lexir("index", "export", damaged, "--format", "jsonvector", "--out", tmp_path / "v.jsonl",
                                "--quiet", check=False), "rebuild")
    assert not (tmp_path / "v.jsonl").exists()
    assert_one_line_error(lexir("index", "export", damaged, "--format", "ciff", "--out", tmp_path / "v.ciff",
                                "--quiet", check=False), "doc_blocks.npy", "rebuild")
    assert not (tmp_path / "v.ciff").exists()
    assert_one_line_error(lexir("index", "export", damaged, "--format", "opensearch", "--out", tmp_path / "os",
                                "--quiet", check=False), "rebuild")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["index"]  # no folder, no staging left behind


@pytest.mark.parametrize("name", ["vectors.jsonl", "vectors.jsonl.gz"])
def test_jsonvector_export_holds_every_document_with_its_integer_impacts_and_contents(bm25_index, tmp_path, name):
    out = tmp_path / name
    export_index(bm25_index, "jsonvector", out, progress=False, batch_postings=16)
    if name.endswith(".gz"):
        assert gzip.open(out).read(1) == b"{"
    index = InvertedIndex(bm25_index)
    vocabulary, expected = index.load_encoder().vocabulary, _matrix(index)
    read = list(JsonVectorCollection(out))
    assert [document.id for document in read] == [doc_id for doc_id, _, _ in (*DOCUMENTS, STOPWORDS_ONLY)]
    for num, document in enumerate(read):
        row = expected[num]
        assert document.vector == {vocabulary[t]: int(q) for t, q in zip(row.indices, row.data)}
        assert all(type(weight) is int for weight in document.vector.values())
        assert document.contents == index.docstore.documents([num])[0].contents


def test_ciff_export_holds_the_postings_as_gaps_and_the_documents_with_their_impact_lengths(bm25_index, tmp_path):
    out = tmp_path / "index.ciff"
    export_index(bm25_index, "ciff", out, progress=False)
    index = InvertedIndex(bm25_index)
    vocabulary, lengths = index.load_encoder().vocabulary, _matrix(index).sum(axis=1).A1
    nonempty = np.flatnonzero(np.diff(index.offsets))
    with CiffReader(out) as reader:
        header = reader.header
        assert (header.version, header.num_postings_lists, header.total_postings_lists) == (1, len(nonempty),
                                                                                            len(nonempty))
        assert header.num_doc_records == header.total_docs == index.num_docs
        assert header.total_terms_in_collection == int(np.asarray(index.impacts, dtype=np.int64).sum())
        assert header.average_doclength == pytest.approx(lengths.mean())
        lists = list(reader.postings_lists())
        records = list(reader.doc_records())
    assert [message.term for message in lists] == [vocabulary[t] for t in nonempty]
    for term, message in zip(nonempty, lists):
        docs, impacts = index.postings(term)
        assert message.postings[0].docid == docs[0]  # the first docid as is, then gaps
        decoded_docs, tfs = decoded_postings(message)
        np.testing.assert_array_equal(decoded_docs, docs)
        np.testing.assert_array_equal(tfs, impacts)
        assert (message.df, message.cf) == (len(docs), int(impacts.astype(np.int64).sum()))
    assert [(r.docid, r.collection_docid, r.doclength) for r in records] == [
        (num, doc_id, int(lengths[num])) for num, (doc_id, _, _) in enumerate((*DOCUMENTS, STOPWORDS_ONLY))]


def test_ciff_export_refuses_16_bit_impacts(tmp_path):
    index = _build(tmp_path, bits=16)
    result = lexir("index", "export", index, "--format", "ciff", "--out", tmp_path / "x.ciff", check=False)
    assert_one_line_error(result, "16-bit", "8 bits")
    assert not (tmp_path / "x.ciff").exists()


def _bulk_pairs(folder):
    lines = (folder / "bulk.ndjson").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every line, the last one too, ends with a newline (the _bulk API requires it)
    lines = [json.loads(line) for line in lines[:-1]]
    return list(zip(lines[0::2], lines[1::2]))


def test_opensearch_rank_features_export_matches_the_documented_shapes_and_the_index(bm25_index, tmp_path):
    out = tmp_path / "os"
    export_index(bm25_index, "opensearch", out, progress=False, batch_postings=10)
    index = InvertedIndex(bm25_index)
    vocabulary, expected, scale = index.load_encoder().vocabulary, _matrix(index), index.quantizer.scale
    body = json.loads((out / "index.json").read_text())
    assert body == {"mappings": {"properties": {"title": {"type": "text"}, "text": {"type": "text"},
                                                "embedding": {"type": "rank_features"}}}}
    pairs = _bulk_pairs(out)
    assert len(pairs) == index.num_docs
    for num, (action, document) in enumerate(pairs):
        stored = index.docstore.documents([num])[0]
        assert action == {"index": {"_id": stored.id}}
        assert (document["title"], document["text"]) == (stored.title, stored.text)
        row = expected[num]
        vector = document["embedding"]
        assert list(vector) == [vocabulary[t] for t in row.indices]  # token strings
        assert all(isinstance(weight, float) and weight > 0 for weight in vector.values())  # strictly positive
        np.testing.assert_array_equal(np.float32(list(vector.values())), np.float32(row.data * np.float32(scale)))
    assert not (out / "idf.json").exists()  # BM25 is not inference-free


def test_opensearch_sparse_vector_export_uses_token_ids_and_a_seismic_mapping(bm25_index, tmp_path):
    out = tmp_path / "os"
    export_index(bm25_index, "opensearch", out, field_type="sparse_vector", progress=False)
    index = InvertedIndex(bm25_index)
    body = json.loads((out / "index.json").read_text())
    assert body["settings"] == {"index": {"sparse": True}}
    field = body["mappings"]["properties"]["embedding"]
    assert field["type"] == "sparse_vector" and field["method"]["name"] == "seismic"
    ceiling = field["method"]["parameters"]["quantization_ceiling_ingest"]
    largest = 0.0
    for num, (_, document) in enumerate(_bulk_pairs(out)):
        vector = document["embedding"]
        assert all(key.isdigit() for key in vector)  # non-negative integers as strings, as the mapper parses them
        assert [int(key) for key in vector] == _matrix(index)[num].indices.tolist()
        largest = max([largest, *vector.values()])
    assert largest <= ceiling < largest + 0.01  # no weight is clipped by OpenSearch's ingest quantization


def test_opensearch_export_of_an_inference_free_index_carries_its_query_idf(splade_tiny, tmp_path):
    folder = _build(tmp_path, encoder="splade-tiny-if", documents=DOCUMENTS[:4])
    out = tmp_path / "os"
    export_index(folder, "opensearch", out, progress=False)
    table = json.loads((out / "idf.json").read_text())
    encoder = InvertedIndex(folder).load_encoder()
    idf = dict(zip(encoder.vocabulary, encoder.idf.tolist()))
    assert table and "[CLS]" not in table and "[SEP]" not in table
    assert all(value > 0 and value == pytest.approx(idf[token], abs=1e-6) for token, value in table.items())
    assert table["vitamin"] > table["the"]  # a rarer token weighs more
    # the same vectors brought back with the inference-free query side keep an idf.json in their export
    export_index(folder, "jsonvector", tmp_path / "v.jsonl", progress=False)
    lexir("index", "build", tmp_path / "v.jsonl", "--query-encoder", "splade-tiny-if", "--out", tmp_path / "back",
          "--quiet")
    export_index(tmp_path / "back", "opensearch", tmp_path / "os-back", progress=False)
    assert json.loads((tmp_path / "os-back" / "idf.json").read_text()).keys() <= set(encoder.vocabulary)


def test_export_refusals_are_one_line_errors(bm25_index, tmp_path):
    def export(*args):
        return lexir("index", "export", bm25_index, *args, "--quiet", check=False)

    assert_one_line_error(export("--format", "parquet", "--out", tmp_path / "x"), "unknown export format")
    assert_one_line_error(export("--format", "ciff", "--out", tmp_path / "x.bin"), "*.ciff")
    assert_one_line_error(export("--format", "jsonvector", "--out", tmp_path / "x.txt"), "*.jsonl")
    assert_one_line_error(export("--format", "opensearch", "--opensearch-field", "dense", "--out", tmp_path / "o"),
                          "rank_features")
    assert_one_line_error(export("--format", "ciff", "--opensearch-field", "sparse_vector", "--out",
                                 tmp_path / "x.ciff"), "for --format opensearch")
    (tmp_path / "a-file").write_text("")
    assert_one_line_error(export("--format", "ciff", "--out", tmp_path / "a-file" / "x.ciff"), "cannot write")
    (tmp_path / "x.jsonl").write_text("keep me")
    assert_one_line_error(export("--format", "jsonvector", "--out", tmp_path / "x.jsonl"), "--overwrite")
    assert (tmp_path / "x.jsonl").read_text() == "keep me"
    export("--format", "jsonvector", "--out", tmp_path / "x.jsonl", "--overwrite")
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == len(DOCUMENTS) + 1
    assert_one_line_error(lexir("index", "export", tmp_path / "nowhere", "--format", "ciff", "--out",
                                tmp_path / "y.ciff", check=False), "does not exist")


def _live_index(bm25_index, tmp_path):
    """A copy of `bm25_index` with two segments (new words among them), a replaced document and deletions in the
    base and in a segment; returns it with its live documents as (id, {token: impact}), base first."""
    live_path = tmp_path / "live"
    shutil.copytree(bm25_index, live_path)
    live = LiveIndex(live_path)
    live.add([Document("z1", "Airships", "a zeppelin xylophone"), Document("d0", "Vitamin D", "vitamin d again")])
    live.add([Document("z2", "", "The zeppelin era ended in 1937.")])
    live.delete(["z1", "d2"])
    snapshot, vocabulary = live.snapshot(), live.encoder.vocabulary
    assert len(snapshot.segments) == 3 and "zeppelin" in vocabulary
    expected = []
    for name, index in snapshot.segments.items():
        rows = _matrix(index)
        for num, doc_id in enumerate(index.docstore.ids_between(0, index.num_docs)):
            if num not in snapshot.deleted[name]:
                row = rows[num]
                expected.append((doc_id, {vocabulary[t]: int(q) for t, q in zip(row.indices, row.data)}))
    ids = [doc_id for doc_id, _ in expected]
    assert ids == [doc_id for doc_id, _, _ in DOCUMENTS if doc_id not in ("d0", "d2")] + ["d12", "d0", "z2"]
    return live_path, expected


def test_a_live_index_exports_its_current_snapshot_in_every_format(bm25_index, tmp_path):
    live, expected = _live_index(bm25_index, tmp_path)
    ids = [doc_id for doc_id, _ in expected]
    report = export_index(live, "jsonvector", tmp_path / "v.jsonl", progress=False, batch_postings=7)
    assert (report.num_docs, report.num_postings) == (len(expected), sum(len(vector) for _, vector in expected))
    assert [(document.id, document.vector) for document in JsonVectorCollection(tmp_path / "v.jsonl")] == expected

    export_index(live, "ciff", tmp_path / "v.ciff", progress=False)
    vectors: list[dict[str, int]] = [{} for _ in expected]
    with CiffReader(tmp_path / "v.ciff") as reader:
        assert reader.header.num_doc_records == len(expected)
        for message in reader.postings_lists():
            docs, tfs = decoded_postings(message)
            assert message.df == len(docs) > 0
            for doc, tf in zip(docs.tolist(), tfs.tolist()):
                vectors[doc][message.term] = tf
        records = [(record.docid, record.collection_docid, record.doclength) for record in reader.doc_records()]
    assert vectors == [vector for _, vector in expected]
    assert records == [(num, doc_id, sum(vector.values())) for num, (doc_id, vector) in enumerate(expected)]

    export_index(live, "opensearch", tmp_path / "os", progress=False, batch_postings=7)
    pairs = _bulk_pairs(tmp_path / "os")
    assert [action["index"]["_id"] for action, _ in pairs] == ids
    assert [set(document["embedding"]) for _, document in pairs] == [set(vector) for _, vector in expected]


def test_export_command_reports_what_it_wrote(bm25_index, tmp_path):
    result = lexir("index", "export", bm25_index, "--format", "ciff", "--out", tmp_path / "a.ciff", "--quiet")
    assert f"exported {len(DOCUMENTS) + 1} documents" in result.stderr and "as ciff" in result.stderr


def test_jsonvector_export_builds_back_into_the_same_postings(bm25_index, tmp_path):
    """lexir -> JsonVectorCollection -> `lexir index build`: every token keeps its documents and impacts (the
    integers come back under the identity quantization; term ids follow the file's sorted tokens)."""
    export_index(bm25_index, "jsonvector", tmp_path / "v.jsonl", progress=False)
    lexir("index", "build", tmp_path / "v.jsonl", "--out", tmp_path / "back", "--quiet")
    original, back = InvertedIndex(bm25_index), InvertedIndex(tmp_path / "back")
    assert back.quantizer.scale == 1.0 and back.manifest.num_postings == original.manifest.num_postings
    back_ids = {token: t for t, token in enumerate(back.load_encoder().vocabulary)}
    for term, token in enumerate(original.load_encoder().vocabulary):
        docs, impacts = original.postings(term)
        if len(docs):
            back_docs, back_impacts = back.postings(back_ids[token])
            np.testing.assert_array_equal(back_docs, docs)
            np.testing.assert_array_equal(back_impacts, impacts)
