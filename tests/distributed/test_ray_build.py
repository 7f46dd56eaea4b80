"""`lexir index build --ray` on a real two-node Ray cluster equals the local build: the same postings, documents and
encoder state, so the same top-10 (ids, scores, order); bad input on the cluster is one line; a Ray build resumes an
interrupted build."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from lexir.index import InvertedIndex
from lexir.index.builder import CHUNK_GLOB, staging_folder
from lexir.index.format import ARRAY_NAMES
from lexir.index.sharded import read_sharded_manifest
from lexir.search import open_search
from tests.distributed.conftest import RAY_TEST_CPUS
from tests.helpers import assert_one_line_error, lexir, write_jsonl
from tests.texts import DOCUMENTS, QUERIES

CORPUS = [(f"{doc_id}-{copy}", title, text) for copy in range(3) for doc_id, title, text in DOCUMENTS]  # 36


def build(source, out, encoder, *extra, check=True):
    return lexir("index", "build", source, "--out", out, "--encoder", encoder, "--chunk-size", "5", "--quiet", *extra,
                 check=check)


def ray_options(address, workers):
    return ("--ray", address, "--workers", str(workers), "--cpus-per-worker", str(RAY_TEST_CPUS))


def assert_same_index(built, reference, search=True):
    ray_index, local_index = InvertedIndex(built), InvertedIndex(reference)
    assert ray_index.manifest.encoder == local_index.manifest.encoder
    assert ray_index.quantizer == local_index.quantizer
    assert ray_index.docstore.all_ids() == local_index.docstore.all_ids()
    for name in ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(ray_index, name), getattr(local_index, name), err_msg=name)
    if search:
        assert_same_hits(built, reference)


def assert_same_hits(built, reference):
    ray_searcher, local_searcher = open_search(built), open_search(reference)
    for query in QUERIES:
        ray_hits = [(hit.id, hit.score) for hit in ray_searcher.search(query, 10).hits]
        assert ray_hits == [(hit.id, hit.score) for hit in local_searcher.search(query, 10).hits]
        assert ray_hits, query


@pytest.mark.parametrize("encoder, shards", [("bm25", 1), ("bm25", 2), ("splade-tiny", 2)])  # splade, 1: below
def test_ray_build_equals_the_local_build(ray_cluster, tmp_path, encoder, shards):
    """One index (Ray Data reads the corpus on the cluster) or two shards (the driver reads and routes, Ray actors
    encode): the same postings in every index, the same top-10 through the sharded searcher."""
    source = write_jsonl(tmp_path / "docs.jsonl", CORPUS)
    build(source, tmp_path / "local", encoder, "--shards", str(shards))
    built = build(source, tmp_path / "ray", encoder, "--shards", str(shards), *ray_options(ray_cluster, 2))
    assert f"indexed {len(CORPUS)} documents" in built.stderr
    if shards == 1:
        assert_same_index(tmp_path / "ray", tmp_path / "local")
        return
    ray_manifest, local_manifest = (read_sharded_manifest(tmp_path / name) for name in ("ray", "local"))
    assert replace(ray_manifest, created_at="", source="") == replace(local_manifest, created_at="", source="")
    np.testing.assert_array_equal(*(np.load(tmp_path / name / "global_doc_freq.npy") for name in ("ray", "local")))
    for name in read_sharded_manifest(tmp_path / "local").shards:
        assert_same_index(tmp_path / "ray" / name, tmp_path / "local" / name, search=False)
    assert_same_hits(tmp_path / "ray", tmp_path / "local")


def test_bad_line_read_on_the_cluster_is_one_line(ray_cluster, tmp_path):
    source = write_jsonl(tmp_path / "docs.jsonl", CORPUS)
    with open(source, "a", encoding="utf-8") as handle:
        handle.write('{"_id": 7, "text": "an id that is a number"}\n')
    failed = build(source, tmp_path / "ray", "splade-tiny", *ray_options(ray_cluster, 1), check=False)
    assert_one_line_error(failed, f"docs.jsonl:{len(CORPUS) + 1}", "non-string _id")


def test_ray_build_resumes_an_interrupted_build(ray_cluster, tmp_path):
    """A local build stopped by a bad line in its last chunk keeps its finished chunks; after the line is fixed,
    the Ray Data build of splade-tiny resumes from them and ends with the index a fresh local build makes."""
    source = tmp_path / "docs.jsonl"
    write_jsonl(source, CORPUS)
    good = source.read_text(encoding="utf-8")
    source.write_text(good + '{"_id": null}\n', encoding="utf-8")
    assert build(source, tmp_path / "index", "splade-tiny", check=False).code == 1
    finished = len(list((staging_folder(tmp_path / "index") / "chunks").glob(CHUNK_GLOB)))
    assert 0 < finished < len(CORPUS) // 5 + 1
    source.write_text(good, encoding="utf-8")
    resumed = build(source, tmp_path / "index", "splade-tiny", "--resume", *ray_options(ray_cluster, 2))
    assert f"({finished} chunks resumed)" in resumed.stderr.replace("\n", " ")
    build(source, tmp_path / "fresh", "splade-tiny")
    assert_same_index(tmp_path / "index", tmp_path / "fresh")
    assert json.loads((tmp_path / "index" / "manifest.json").read_text())["extra"]["build"]["resumed_chunks"] == \
        finished


def test_device_reaches_the_actors(ray_cluster, tmp_path):
    """--device is the actors' (a Ray build's driver encodes nothing, so it checks nothing there): cuda on this
    cluster without a GPU stops the build in one line, raised by an actor as it loads the model."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA GPU here: the actor would encode on it")
    source = write_jsonl(tmp_path / "docs.jsonl", CORPUS)
    failed = build(source, tmp_path / "ray", "splade-tiny", "--device", "cuda", *ray_options(ray_cluster, 1),
                   check=False)
    assert_one_line_error(failed, "device 'cuda'", "no CUDA GPU")
