"""The file formats of pre-encoded vectors: JsonVectorCollection and CIFF read and written, pre-encoded topics."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from lexir.corpus import VectorDocument
from lexir.errors import LexirError
from lexir.formats import ciff
from lexir.formats.ciff_documents import CiffDocuments
from lexir.formats.inputs import detect_input_format
from lexir.formats.jsonvector import JsonVectorCollection, write_jsonvector
from lexir.formats.topics import read_query_vectors


def write_lines(path, lines: list[str | bytes]):
    data = b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


GOOD = [json.dumps({"id": "a", "contents": "a cat", "vector": {"cat": 3, "the": 1}}),
        "",
        json.dumps({"id": "b", "vector": {"dog": 0.25}})]


# JsonVectorCollection ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vectors.jsonl", "vectors.jsonl.gz"])
def test_reads_documents_with_int_and_float_weights(tmp_path, name):
    collection = JsonVectorCollection(write_lines(tmp_path / name, GOOD))
    assert list(collection) == [VectorDocument("a", "", "a cat", vector={"cat": 3, "the": 1}),
                                VectorDocument("b", "", "", vector={"dog": 0.25})]
    assert collection.skipped == 0 and not collection.weights.integral and collection.weights.largest == 3


@pytest.mark.parametrize(("line", "reason"), [
    (b"[1, 2]", "not a JSON object"),
    (b'{"vector": {"a": 1}}', "missing or empty id"),
    (b'{"id": 7, "vector": {"a": 1}}', "non-string id"),
    (b'{"id": "x", "contents": 3, "vector": {"a": 1}}', "non-string contents"),
    (b'{"id": "x"}', "bad vector: vector is missing"),
    (b'{"id": "x", "vector": [1]}', "bad vector: vector is a list"),
    (b'{"id": "x", "vector": {"a": "1"}}', "bad vector: the weight of 'a' is \"1\", not a number"),
    (b'{"id": "x", "vector": {"a": true}}', "bad vector: the weight of 'a' is true, not a number"),
    (b'{"id": "x", "vector": {"a": -1}}', "weights are finite and non-negative"),
    (b'{"id": "x", "vector": {"a": NaN}}', "the weight of 'a' is nan"),
    (b'{"id": "x", "vector": {"a": 1}', "malformed JSON"),
    (b'{"id": "x\xff", "vector": {}}', "invalid UTF-8: byte 0xff at column 10"),
])
def test_a_bad_line_stops_the_read_with_its_number(tmp_path, line, reason):
    path = write_lines(tmp_path / "v.jsonl", [GOOD[0], line])
    with pytest.raises(LexirError) as caught:
        list(JsonVectorCollection(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ") and reason in message and "--skip-bad-lines" in message
    assert "\n" not in message


def test_skip_bad_lines_counts_them_by_reason(tmp_path):
    path = write_lines(tmp_path / "v.jsonl", [b"[]", GOOD[0], b'{"id": 1, "vector": {}}', b"{oops",
                                              b'{"id": "y", "vector": {"a": -2}}', GOOD[2]])
    collection = JsonVectorCollection(path, skip_bad_lines=True)
    assert [document.id for document in collection] == ["a", "b"]
    assert collection.skipped == 4
    assert collection.skipped_by_reason == {"not a JSON object": 1, "non-string id": 1, "malformed JSON": 1,
                                            "bad vector": 1}
    assert collection.skipped_summary().startswith("skipped 4 bad lines: ")
    assert [document.id for document in collection] == ["a", "b"] and collection.skipped == 4  # counts per read


def test_a_truncated_gz_file_is_one_error(tmp_path):
    path = tmp_path / "v.jsonl.gz"
    whole = gzip.compress(("\n".join(GOOD * 200) + "\n").encode())
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(LexirError, match="is truncated or damaged: its gzip data ends early"):
        list(JsonVectorCollection(path))


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_the_writer_makes_what_the_reader_reads(tmp_path, name):
    documents = [("d1", {"tok": 5, "##en": 2}, "some text"), ("d2", {"x": 0.5}, "")]
    assert write_jsonvector(tmp_path / name, documents) == 2
    read = list(JsonVectorCollection(tmp_path / name))
    assert [(d.id, dict(d.vector), d.text) for d in read] == documents
    raw = gzip.open(tmp_path / name).read() if name.endswith(".gz") else (tmp_path / name).read_bytes()
    assert json.loads(raw.splitlines()[1]) == {"id": "d2", "vector": {"x": 0.5}}  # no empty contents


def test_input_formats_are_recognised(tmp_path):
    assert detect_input_format(str(write_lines(tmp_path / "v.jsonl.gz", GOOD))) == "jsonvector"
    texts = write_lines(tmp_path / "t.jsonl", [json.dumps({"_id": "1", "text": "hello"})])
    assert detect_input_format(str(texts)) == "documents"
    assert detect_input_format(str(tmp_path / "x.ciff")) == "documents"  # not a file: an ir_datasets id, maybe
    (tmp_path / "x.ciff").write_bytes(b"")
    assert detect_input_format(str(tmp_path / "x.ciff")) == "ciff"
    assert detect_input_format("beir/nfcorpus", "jsonvector") == "jsonvector"
    with pytest.raises(LexirError, match="--input-format must be one of auto, documents, jsonvector, ciff"):
        detect_input_format("x", "parquet")


# CIFF ----------------------------------------------------------------------------------------------------------

POSTINGS = {"apple": ([0, 3, 4], [5, 1, 255]), "banana": ([1], [7]), "cherry": ([], []), "date": ([3, 5], [2, 2])}
IDS = ["doc-a", "doc-b", "doc-c", "doc-d", "doc-e", "doc-f"]


def write_sample_ciff(path, postings=POSTINGS, ids=IDS):
    header = ciff.Header(version=1, num_postings_lists=len(postings), num_doc_records=len(ids),
                         total_postings_lists=len(postings), total_docs=len(ids), description="test")
    lists = [ciff.postings_list(term, np.array(docs), np.array(tfs)) for term, (docs, tfs) in postings.items()]
    records = [ciff.DocRecord(docid=i, collection_docid=doc_id, doclength=1) for i, doc_id in enumerate(ids)]
    ciff.write_ciff(path, header, lists, records)
    return path


@pytest.mark.parametrize("name", ["sample.ciff", "sample.ciff.gz"])
def test_ciff_reads_back_what_was_written(tmp_path, name):
    path = write_sample_ciff(tmp_path / name)
    with ciff.CiffReader(path) as reader:
        assert (reader.header.num_postings_lists, reader.header.num_doc_records) == (4, 6)
        lists = list(reader.postings_lists())
        records = list(reader.doc_records())
    assert [message.term for message in lists] == list(POSTINGS)
    for message, (docs, tfs) in zip(lists, POSTINGS.values()):
        decoded_docs, decoded_tfs = ciff.decoded_postings(message)
        assert decoded_docs.tolist() == docs and decoded_tfs.tolist() == tfs
        assert (message.df, message.cf) == (len(docs), sum(tfs))
    assert [posting.docid for posting in lists[0].postings] == [0, 3, 1]  # gaps on the wire
    assert [(record.docid, record.collection_docid) for record in records] == list(enumerate(IDS))


def test_a_truncated_ciff_file_is_one_error(tmp_path):
    path = write_sample_ciff(tmp_path / "sample.ciff")
    whole = path.read_bytes()
    path.write_bytes(whole[:-4])
    with pytest.raises(LexirError, match=r"doc record 6 of 6 cannot be read .*truncated or not CIFF|ends before"):
        with ciff.CiffReader(path) as reader:
            list(reader.postings_lists())
            list(reader.doc_records())
    path.write_bytes(whole[:30])
    with pytest.raises(LexirError, match="truncated"):
        with ciff.CiffReader(path) as reader:
            list(reader.postings_lists())


def test_ciff_writer_refuses_counts_that_differ_from_the_header(tmp_path):
    header = ciff.Header(num_postings_lists=2, num_doc_records=0)
    with pytest.raises(LexirError, match="header counts 2 postings lists and 0 doc records, but 1 and 0"):
        ciff.write_ciff(tmp_path / "bad.ciff", header, [ciff.postings_list("a", np.array([0]), np.array([1]))], [])
    assert not (tmp_path / "bad.ciff").exists()


def test_ciff_postings_must_ascend(tmp_path):
    with pytest.raises(LexirError, match="strictly ascending"):
        ciff.postings_list("a", np.array([3, 1]), np.array([1, 1]))


@pytest.mark.parametrize("buffer_postings", [1, 3, 1 << 20])
def test_ciff_inverts_to_documents_in_docid_order(tmp_path, buffer_postings):
    path = write_sample_ciff(tmp_path / "sample.ciff")
    with CiffDocuments(path, work_folder=tmp_path / "work", buffer_postings=buffer_postings, progress=False) as docs:
        assert docs.terms == list(POSTINGS) and len(docs) == 6
        read = [(document.id, dict(document.vector)) for document in docs]
        assert read == [(document.id, dict(document.vector)) for document in docs]  # re-iterable
        assert docs.weights.integral and docs.weights.largest == 255
    assert read == [("doc-a", {"apple": 5}), ("doc-b", {"banana": 7}), ("doc-c", {}),
                    ("doc-d", {"apple": 1, "date": 2}), ("doc-e", {"apple": 255}), ("doc-f", {"date": 2})]
    assert not any((tmp_path / "work").iterdir())  # the work folder is removed on closing


def test_ciff_docids_out_of_range_are_refused(tmp_path):
    path = write_sample_ciff(tmp_path / "sample.ciff", postings={"apple": ([0, 9], [1, 1])})
    with CiffDocuments(path, work_folder=tmp_path, progress=False) as docs:
        with pytest.raises(LexirError, match="the postings of term 'apple' are not ascending docids in 0..5"):
            list(docs)


# pre-encoded topics --------------------------------------------------------------------------------------------

def test_topics_read_as_jsonl_or_pyserini_tsv(tmp_path):
    jsonl = write_lines(tmp_path / "q.jsonl", [json.dumps({"id": "q1", "vector": {"cat": 1.5}}),
                                               json.dumps({"id": "q2", "vector": {"dog": 2}})])
    assert read_query_vectors(jsonl) == {"q1": {"cat": 1.5}, "q2": {"dog": 2}}
    tsv = write_lines(tmp_path / "q.tsv.gz", ["q1\tcat cat dog", "", "q2\tfish"])
    assert read_query_vectors(tsv) == {"q1": {"cat": 2, "dog": 1}, "q2": {"fish": 1}}


@pytest.mark.parametrize(("lines", "message"), [
    (["q1\tcat", "no tab here"], ":2: not id<TAB>tokens"),
    (['{"id": "q1", "vector": {"a": 1}}', '{"id": "q1", "vector": {"a": 2}}'], "query id 'q1' is given twice"),
    (['{"id": "q1", "vector": {"a": -1}}'], ":1: bad vector"),
])
def test_bad_topics_are_one_error(tmp_path, lines, message):
    with pytest.raises(LexirError, match=message) as caught:
        read_query_vectors(write_lines(tmp_path / "q.txt", lines))
    assert "--skip-bad-lines" not in str(caught.value)
