"""Sharded builds: resume after an interruption, atomic swap, pluggable encoding, the CLI, damaged shards."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.errors import IndexFormatError, LexirError
from lexir.index import InvertedIndex
from lexir.index.builder import staging_folder
from lexir.index.sharded import is_sharded, read_sharded_manifest
from lexir.index.sharded_build import build_sharded_index, local_batches
from lexir.search import open_search
from lexir.search.shard import ShardUnavailableError
from tests.helpers import assert_one_line_error, lexir, write_jsonl
from tests.unit.sharded_corpus import SHARDED_QUERIES, sharded_documents


@pytest.fixture
def source(tmp_path):
    return write_jsonl(tmp_path / "docs.jsonl", sharded_documents())


def results(index) -> list[list[tuple[str, float]]]:
    searcher = open_search(index)
    return [[(hit.id, hit.score) for hit in searcher.search(query, 20).hits] for query in SHARDED_QUERIES]


def interrupted_after(chunks: int, encoder):
    """An encode_batches that encodes `chunks` chunks, then fails as a killed worker would."""
    def encode(pending):
        for number, vectors in enumerate(local_batches(encoder)(pending)):
            if number == chunks:
                raise LexirError("worker lost")
            yield vectors
    return encode


def test_an_interrupted_build_resumes_from_its_finished_chunks(tmp_path, source):
    fresh = build_sharded_index(Corpus(str(source)), create_encoder("bm25"), tmp_path / "fresh", 3, chunk_size=5,
                                progress=False)
    target = tmp_path / "resumed"
    encoder = create_encoder("bm25")
    with pytest.raises(LexirError, match="worker lost"):
        build_sharded_index(Corpus(str(source)), encoder, target, 3, chunk_size=5, progress=False,
                            encode_batches=interrupted_after(4, encoder))
    assert not target.exists() and staging_folder(target).is_dir()  # nothing half-built at the target
    with pytest.raises(LexirError, match="--resume"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 3, chunk_size=5, progress=False)
    with pytest.raises(LexirError, match="another shards"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 2, chunk_size=5, resume=True,
                            progress=False)
    report = build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 3, chunk_size=5, resume=True,
                                 progress=False)
    assert report.resumed_chunks == 4 and report.encoded_docs == fresh.num_docs - 4 * 5
    assert report.num_docs == fresh.num_docs and report.num_postings == fresh.num_postings
    assert not staging_folder(target).exists() and is_sharded(target)
    assert results(target) == results(tmp_path / "fresh")
    for name in read_sharded_manifest(target).shards:
        resumed, built = InvertedIndex(target / name), InvertedIndex(tmp_path / "fresh" / name)
        assert resumed.docstore.all_ids() == built.docstore.all_ids()
        assert np.array_equal(np.load(target / "ordinals" / f"{name}.npy"),
                              np.load(tmp_path / "fresh" / "ordinals" / f"{name}.npy"))


def test_an_encoder_that_gives_the_wrong_number_of_vectors_is_refused(tmp_path, source):
    encoder = create_encoder("bm25")

    def short(pending):
        for vectors in local_batches(encoder)(pending):
            yield vectors[:-1]

    with pytest.raises(LexirError, match="vectors for a chunk of"):
        build_sharded_index(Corpus(str(source)), encoder, tmp_path / "index", 2, progress=False,
                            encode_batches=short)


def test_overwrite_replaces_an_index_and_other_folders_are_refused(tmp_path, source):
    target = tmp_path / "index"
    build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 2, progress=False)
    with pytest.raises(LexirError, match="--overwrite"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 3, progress=False)
    build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 3, overwrite=True, progress=False)
    assert read_sharded_manifest(target).num_shards == 3
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(LexirError, match="not a lexir index"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), tmp_path / "other", 2, progress=False)


def test_cli_builds_searches_checks_and_names_a_damaged_shard(tmp_path, source):
    out = tmp_path / "sharded"
    built = lexir("index", "build", str(source), "--encoder", "bm25", "--shards", "2", "--out", str(out), "--quiet")
    assert "indexed 48 documents" in built.stderr
    assert "sharded index of 2 shards, sound" in lexir("index", "check", str(out)).stdout
    found = lexir("search", str(out), "heat transfer", "--k", "3", "--json").json()
    assert [hit["id"] for hit in found["hits"]][:1] == ["d11"]
    assert '"num_shards": 2' in lexir("index", "info", str(out), "--json").stdout
    merged = lexir("index", "merge", str(out)).stderr
    assert "shard-00: nothing to merge" in merged and "shard-01: nothing to merge" in merged

    shutil.rmtree(out / "shard-01")
    assert_one_line_error(lexir("search", str(out), "heat transfer", check=False), "shard-01")
    checked = lexir("index", "check", str(out), check=False)
    assert checked.code == 1 and "shard shard-01" in checked.stderr
    with pytest.raises(ShardUnavailableError, match="shard-01"):
        open_search(out)


def test_damaged_ordinals_and_manifest_are_clear_errors(tmp_path, source):
    out = tmp_path / "sharded"
    build_sharded_index(Corpus(str(source)), create_encoder("bm25"), out, 2, progress=False)
    np.save(out / "ordinals" / "shard-00.npy", np.arange(3, dtype=np.int64))
    with pytest.raises(ShardUnavailableError, match="shard-00.*rebuild"):
        open_search(out)
    (out / "shards.json").write_text('{"format": "lexir-sharded", "version": 99}')
    with pytest.raises(IndexFormatError, match="version 1"):
        open_search(out)


def test_a_duplicate_id_fails_the_build_without_leaving_work_to_resume(tmp_path):
    documents = [*sharded_documents(20), ("d3", "again", "a second document with the id d3")]
    source = write_jsonl(tmp_path / "docs.jsonl", documents)
    with pytest.raises(LexirError, match="'d3' occurs more than once"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), tmp_path / "index", 2, progress=False)
    assert not staging_folder(tmp_path / "index").exists() and not (tmp_path / "index").exists()


def test_eval_on_a_sharded_index_scores_like_one_index(tmp_path, monkeypatch):
    from lexir.eval import evaluate, load_dataset
    from tests.unit.test_eval_run import write_beir_folder

    monkeypatch.setenv("LEXIR_CACHE", str(tmp_path / "cache"))
    dataset = load_dataset(str(write_beir_folder(tmp_path / "tiny")))
    single = evaluate(dataset, encoder="bm25", progress=False)
    sharded = tmp_path / "sharded"
    build_sharded_index(dataset.corpus(), create_encoder("bm25"), sharded, 2, progress=False)
    split = evaluate(dataset, index=sharded, progress=False)
    assert split.per_query == single.per_query and split.index.path == str(sharded)


def test_a_build_interrupted_between_shard_assemblies_resumes_without_touching_finished_shards(
        tmp_path, source, monkeypatch):
    from lexir.index import sharded_build
    from lexir.index.sharded_ops import check_sharded

    real = sharded_build.assemble
    calls = []

    def fail_on_the_second_shard(staging, *arguments, **options):
        calls.append(staging.name)
        if len(calls) == 2:
            raise LexirError("killed during assembly")
        return real(staging, *arguments, **options)

    monkeypatch.setattr(sharded_build, "assemble", fail_on_the_second_shard)
    target = tmp_path / "index"
    with pytest.raises(LexirError, match="killed during assembly"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 3, chunk_size=9, progress=False)
    report = build_sharded_index(Corpus(str(source)), create_encoder("bm25"), target, 3, chunk_size=9, resume=True,
                                 progress=False)
    assert calls == ["shard-00", "shard-01", "shard-01", "shard-02"] and report.encoded_docs == 0
    assert len(check_sharded(target, full=True).shards) == 3  # the first shard's files still match their checksums
    build_sharded_index(Corpus(str(source)), create_encoder("bm25"), tmp_path / "fresh", 3, progress=False)
    assert results(target) == results(tmp_path / "fresh")
