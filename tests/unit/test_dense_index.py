"""The dense side of an index: exact FAISS search equals numpy, FAISS types, checks on open, the add-later path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lexir.encoders.dense import DenseEncoder
from lexir.errors import EncoderMismatchError, IndexFormatError, LexirError
from lexir.index import InvertedIndex
from lexir.index.dense import DENSE_DIR, STAGING_DIR, has_dense, read_dense_manifest
from lexir.index.dense_builder import add_dense
from lexir.index.faiss_types import FaissType
from lexir.search import SearchOptions, open_search
from tests.helpers import build_dense_index
from tests.texts import DOCUMENTS, QUERIES

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DENSE = SearchOptions(mode="dense")


def dense_retriever(index, encoder=None):
    return open_search(index, DENSE, dense_encoder=encoder).retrievers["dense"]


def test_flat_search_equals_brute_force_numpy(dense_index, minilm):
    index = InvertedIndex(dense_index)
    documents = index.docstore.documents(range(index.num_docs))
    doc_vectors = minilm.encode_documents([doc.contents for doc in documents])
    query_vectors = minilm.encode_queries(QUERIES)
    expected_scores = query_vectors @ doc_vectors.T
    searcher = dense_retriever(dense_index, minilm)
    ranked = searcher.rank(searcher.encode(QUERIES), 5, DENSE)
    for row, result in enumerate(ranked):
        expected = np.argsort(-expected_scores[row], kind="stable")[:5]
        assert result.nums.tolist() == expected.tolist()
        np.testing.assert_allclose(result.scores, expected_scores[row, expected], atol=1e-5)
    one = searcher.rank_one(searcher.encode(QUERIES[:1]), 100, DENSE)  # k is clamped to the number of documents
    assert sorted(one.nums.tolist()) == list(range(len(DOCUMENTS)))


def test_manifest_records_encoder_type_and_documents(dense_index, minilm):
    manifest = read_dense_manifest(dense_index)
    assert manifest.encoder == minilm.spec
    assert (manifest.faiss_type.kind, manifest.dim, manifest.count) == ("flat", 384, len(DOCUMENTS))
    stored = json.loads((dense_index / DENSE_DIR / "dense.json").read_text())
    assert stored["metric"] == "inner_product" and stored["faiss"] == {"kind": "flat", "params": {}}
    assert stored["extra"]["build"]["docs_per_second"] > 0
    assert not (dense_index / STAGING_DIR).exists() and not (dense_index / DENSE_DIR / "vectors.npy").exists()


def test_another_dense_encoder_is_refused(dense_index, minilm):
    other = DenseEncoder("minilm", model_folder=minilm.config.model_folder, max_length=128)
    with pytest.raises(EncoderMismatchError, match="max_doc_length: index has 256, encoder has 128"):
        dense_retriever(dense_index, other)


def test_add_later_replace_with_hnsw_and_refusals(tmp_path, minilm):
    index = build_dense_index(tmp_path, minilm, DOCUMENTS[:8])
    with pytest.raises(LexirError, match="already has a dense side"):
        add_dense(index, minilm, progress=False)
    with pytest.raises(LexirError, match="needs at least 256 documents"):
        add_dense(index, minilm, faiss_type="ivfpq:nlist=4,m=16", overwrite=True, progress=False)
    assert read_dense_manifest(index).faiss_type.kind == "flat"  # a failed replacement leaves the old side
    (index / STAGING_DIR).mkdir()  # as if an earlier run had been killed
    add_dense(index, minilm, faiss_type="hnsw:M=8,efSearch=16", overwrite=True, progress=False)
    manifest = read_dense_manifest(index)
    assert manifest.faiss_type.params == {"M": 8, "efConstruction": 200, "efSearch": 16}
    searcher = dense_retriever(index, minilm)
    assert searcher.segment("").dense.faiss_index.hnsw.efSearch == 16
    assert searcher.rank_one(searcher.encode(["vitamin d and calcium"]), 1, DENSE).nums.tolist() == [0]


def test_a_dense_side_is_refused_on_other_documents(tmp_path, dense_index):
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index
    from tests.helpers import write_jsonl

    other = tmp_path / "other"
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS[::-1]))), create_encoder("bm25"), other,
                progress=False)
    assert not has_dense(other)
    with pytest.raises(LexirError, match="has no dense side; add one with `lexir index add-dense"):
        dense_retriever(other)
    shutil.copytree(dense_index / DENSE_DIR, other / DENSE_DIR)
    with pytest.raises(IndexFormatError, match="was built for other documents"):
        dense_retriever(other)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("annoy", "unknown dense index type"),
        ("hnsw:M=32,ef=4", "keys M, efConstruction, efSearch"),
        ("flat:M=4", "keys none"),
        ("ivfpq:nlist", "KEY=VALUE"),
        ("hnsw:M=0", "at least 1"),
        ("ivfpq:nlist=abc", "whole number"),
    ],
)
def test_bad_dense_index_strings(text, fragment):
    with pytest.raises(LexirError, match=fragment):
        FaissType.parse(text)


def test_dense_index_strings_round_trip():
    parsed = FaissType.parse("ivfpq:nlist=64,nprobe=8")
    assert parsed.params == {"nlist": 64, "m": 16, "nbits": 8, "nprobe": 8}
    assert FaissType.parse(str(parsed)) == parsed and str(FaissType.parse("flat")) == "flat"
    with pytest.raises(LexirError, match="must divide the vector width 384"):
        FaissType.parse("ivfpq:m=7").create(np.zeros((300, 384), dtype=np.float32))
