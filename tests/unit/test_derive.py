"""Deriving an index from one whose documents have the same vectors (lexir/index/derive.py): splade-tiny-if's
index made from splade-tiny's is its own build, file for file, and `lexir eval --encoder` derives only when the
document sides match and the source is intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.eval import evaluate, load_dataset
from lexir.eval.indexes import prepare_index
from lexir.index import build_index
from lexir.index.derive import can_derive_from, derive_index, document_side
from lexir.index.format import MANIFEST_FILE, read_manifest
from lexir.search import SearchOptions, open_search
from tests.helpers import write_jsonl
from tests.texts import QUERIES
from tests.unit.test_eval_run import write_beir_folder
from tests.unit.test_vector_input import top


@pytest.fixture(scope="module")
def splade_and_if(tmp_path_factory, splade_tiny) -> tuple[Path, Path, str]:
    """splade-tiny's and splade-tiny-if's own builds of tests/texts.py's documents, and their source."""
    folder = tmp_path_factory.mktemp("derive")
    corpus = Corpus(str(write_jsonl(folder / "docs.jsonl")))
    build_index(corpus, create_encoder("splade-tiny"), folder / "splade", progress=False)
    build_index(corpus, create_encoder("splade-tiny-if"), folder / "if", progress=False)
    return folder / "splade", folder / "if", corpus.source


def test_the_derived_index_is_the_encoders_own_build(splade_and_if, tmp_path):
    splade, built, source = splade_and_if
    encoder = create_encoder("splade-tiny-if")
    assert can_derive_from(splade, encoder, source)
    derive_index(splade, encoder, tmp_path / "derived")
    derived, own = read_manifest(tmp_path / "derived"), read_manifest(built)
    assert derived.files == own.files and "text_doc_freq.npy" in derived.files  # every byte, text df included
    assert (derived.encoder, derived.quantization, derived.num_postings) == (own.encoder, own.quantization,
                                                                              own.num_postings)
    assert derived.extra["build"]["derived_from"] == "splade"
    for weighting in ({}, {"idf": "vectors"}, {"query_tf": "count"}):
        options = SearchOptions(query_options=weighting)
        assert top(open_search(tmp_path / "derived", options), QUERIES) == top(open_search(built, options), QUERIES)


def test_only_the_same_document_side_of_an_intact_plain_index_is_derived_from(splade_and_if, tmp_path):
    splade, built, source = splade_and_if
    assert document_side(read_manifest(splade).encoder) == document_side(read_manifest(built).encoder)
    assert not can_derive_from(splade, create_encoder("splade-tiny-if", max_doc_length=16), source)
    assert not can_derive_from(splade, create_encoder("bm25"), source)
    assert not can_derive_from(splade, create_encoder("splade-tiny-if"), "another-corpus")
    live = tmp_path / "live"
    derive_index(splade, create_encoder("splade-tiny"), live)
    (live / "live.json").write_text("{}")  # a live index holds documents its base postings do not
    assert not can_derive_from(live, create_encoder("splade-tiny-if"), source)


def test_eval_derives_splade_tiny_if_from_the_cached_splade_tiny_index(splade_tiny, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LEXIR_CACHE", str(cache))
    dataset = load_dataset(str(write_beir_folder(tmp_path / "tiny")))
    first = evaluate(dataset, encoder="splade-tiny", progress=False)
    derived = evaluate(dataset, encoder="splade-tiny-if", progress=False)
    assert derived.efficiency.built_now
    manifest = read_manifest(Path(derived.index.path))
    assert manifest.extra["build"]["derived_from"] == Path(first.index.path).name
    own = tmp_path / "own"
    build_index(dataset.corpus(), create_encoder("splade-tiny-if"), own, progress=False)
    assert manifest.files == read_manifest(own).files
    assert evaluate(dataset, index=own, progress=False).per_query == derived.per_query
    # other document settings: encoded anew (a cache folder of their own)
    short = prepare_index(dataset, encoder_name="splade-tiny-if", encoder_options={"max_doc_length": 4},
                          cache_name="splade-tiny-if-short", progress=False)
    assert short.built_now and "derived_from" not in read_manifest(short.path).extra["build"]


def test_a_damaged_source_is_not_copied_the_documents_are_encoded(splade_tiny, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LEXIR_CACHE", str(tmp_path / "cache"))
    dataset = load_dataset(str(write_beir_folder(tmp_path / "tiny")))
    source = prepare_index(dataset, encoder_name="splade-tiny", progress=False).path
    impacts = np.load(source / "impacts.npy")
    impacts[0] ^= 1
    np.save(source / "impacts.npy", impacts)  # same size, other bytes: only the checksum tells
    prepared = prepare_index(dataset, encoder_name="splade-tiny-if", progress=False)
    assert "could not derive" in caplog.text and "impacts.npy" in caplog.text
    assert "derived_from" not in read_manifest(prepared.path).extra["build"]
    assert not [entry for entry in prepared.path.parent.iterdir() if entry.name.startswith(".")]
    assert (prepared.path / MANIFEST_FILE).is_file()
