"""Index building and reading: postings, block maxima, manifest, atomic and refused builds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.errors import IndexFormatError, LexirError
from lexir.index import InvertedIndex, build_index
from lexir.index.builder import staging_folder
from lexir.index.codec import decode_terms
from lexir.index.postings import build_postings
from lexir.index.quantize import Quantizer
from lexir.search.algorithms.postings import postings_from_arrays
from tests.helpers import write_jsonl
from tests.texts import DOCUMENTS


@pytest.fixture
def bm25_index(tmp_path):
    corpus = Corpus(str(write_jsonl(tmp_path / "docs.jsonl")))
    build_index(corpus, create_encoder("bm25"), tmp_path / "index", chunk_size=5, progress=False)
    return InvertedIndex(tmp_path / "index")


def test_postings_are_the_quantized_matrix_transposed():
    rng = np.random.default_rng(1)
    matrix = sp.random(300, 50, density=0.1, format="csr", dtype=np.float32, random_state=rng)
    quantizer = Quantizer.fit(float(matrix.data.max()))
    arrays = build_postings(matrix, quantizer, block_size=4)
    doc_ids, ok = decode_terms(postings_from_arrays(arrays, 4, 300), 0, 50)
    impacts_all = arrays["impacts"]
    assert ok
    quantized_rows = sp.csr_matrix((quantizer.quantize(matrix.data), matrix.indices, matrix.indptr),
                                   shape=matrix.shape)
    expected = sp.csc_matrix(quantized_rows)
    expected.sort_indices()
    np.testing.assert_array_equal(arrays["offsets"], expected.indptr)
    np.testing.assert_array_equal(doc_ids, expected.indices)
    np.testing.assert_array_equal(impacts_all, expected.data)
    for term in range(50):
        start, end = arrays["offsets"][term], arrays["offsets"][term + 1]
        impacts, docs = impacts_all[start:end], doc_ids[start:end]
        assert arrays["term_max"][term] == (impacts.max() if end > start else 0)
        blocks = range(arrays["block_offsets"][term], arrays["block_offsets"][term + 1])
        assert len(blocks) == -(-(end - start) // 4)
        for i, block in enumerate(blocks):
            assert arrays["block_max"][block] == impacts[4 * i: 4 * i + 4].max()
            assert arrays["block_last_doc"][block] == docs[4 * i: 4 * i + 4][-1]
    assert arrays["doc_freq"].sum() == matrix.nnz


def test_built_index_describes_itself(bm25_index):
    manifest = bm25_index.manifest
    assert manifest.num_docs == len(DOCUMENTS)
    assert manifest.encoder.kind == "bm25"
    assert manifest.quantization.bits == 8
    assert isinstance(bm25_index.doc_blocks, np.memmap) and isinstance(bm25_index.block_words, np.memmap)
    assert bm25_index.docstore.ids(range(3)) == ["d0", "d1", "d2"]
    assert bm25_index.doc_nnz[10] == 2  # empty text: only its title, "empti" and "document"
    assert not staging_folder(bm25_index.path).exists()


def test_existing_index_needs_overwrite_and_non_index_is_refused(tmp_path, bm25_index):
    corpus = Corpus(str(write_jsonl(tmp_path / "other.jsonl", DOCUMENTS[:3])))
    with pytest.raises(LexirError, match="--overwrite"):
        build_index(corpus, create_encoder("bm25"), bm25_index.path, progress=False)
    build_index(corpus, create_encoder("bm25"), bm25_index.path, overwrite=True, progress=False)
    assert InvertedIndex(bm25_index.path).num_docs == 3
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "file.txt").write_text("keep me")
    with pytest.raises(LexirError, match="not a lexir index"):
        build_index(corpus, create_encoder("bm25"), tmp_path / "precious", overwrite=True, progress=False)
    assert (tmp_path / "precious" / "file.txt").read_text() == "keep me"


def test_duplicate_ids_and_empty_corpus_are_errors(tmp_path):
    duplicated = write_jsonl(tmp_path / "dup.jsonl", DOCUMENTS[:2] + DOCUMENTS[:1])
    with pytest.raises(LexirError, match="'d0' occurs more than once"):
        build_index(Corpus(str(duplicated)), create_encoder("bm25"), tmp_path / "i1", progress=False)
    assert not (tmp_path / "i1").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(LexirError, match="empty corpus"):
        build_index(Corpus(str(empty)), create_encoder("bm25"), tmp_path / "i2", progress=False)
    assert not (tmp_path / "i2").exists() and not staging_folder(tmp_path / "i2").exists()


def test_malformed_jsonl_names_the_line_or_is_skipped(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS[:3])
    with open(path, "a") as handle:
        handle.write('{"_id": "x", "text": \n')
        handle.write('["not", "an", "object"]\n')
    with pytest.raises(LexirError, match=r"docs.jsonl:4: malformed JSON"):
        list(Corpus(str(path)))
    corpus = Corpus(str(path), skip_bad_lines=True)
    assert [doc.id for doc in corpus] == ["d0", "d1", "d2"] and corpus.skipped == 2


def test_opening_broken_indexes_is_refused(tmp_path, bm25_index):
    with pytest.raises(IndexFormatError, match="does not exist"):
        InvertedIndex(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    with pytest.raises(IndexFormatError, match="no manifest.json"):
        InvertedIndex(tmp_path / "half")
    manifest = json.loads((bm25_index.path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bm25_index.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="version 99"):
        InvertedIndex(bm25_index.path)
