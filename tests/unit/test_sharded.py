"""A sharded index scores like one index over the same documents: same ids, scores and order (BM25 with global
statistics, corpus-IDF weighting, inference-free text IDF, dense and hybrid), routing, and the format."""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.index import InvertedIndex
from lexir.index.dense_builder import add_dense
from lexir.index.sharded import read_global_doc_freq, read_ordinals, read_sharded_manifest, shard_of
from lexir.index.sharded_build import build_sharded_index
from lexir.index.sharded_ops import add_dense_sharded
from lexir.search import SearchOptions, open_search
from lexir.search.fusion import Fusion
from lexir.search.shard import LocalShard
from lexir.search.sharded import ShardedIndex
from tests.helpers import write_jsonl
from tests.unit.sharded_corpus import SHARDED_QUERIES, build_pair, sharded_documents


def listed(result) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in result.hits]


def assert_same_results(one, sharded, options: SearchOptions, ks=(3, 60), **encoders) -> None:
    """Every query, one at a time and as a batch, gives the same (id, score) lists in the same order."""
    single, split = open_search(one, options, **encoders), open_search(sharded, options, **encoders)
    for k in ks:
        for query in SHARDED_QUERIES:
            assert listed(split.search(query, k)) == listed(single.search(query, k)), (query, k)
        batch = [listed(result) for result in split.search_batch(SHARDED_QUERIES, k)]
        assert batch == [listed(result) for result in single.search_batch(SHARDED_QUERIES, k)]


@pytest.fixture(scope="module")
def bm25_pairs(tmp_path_factory):
    return {shards: build_pair(tmp_path_factory.mktemp(f"bm25-{shards}"), lambda: create_encoder("bm25"), shards)
            for shards in (2, 3)}


def test_shard_of_is_blake2b_of_the_utf8_id_little_endian_modulo_s():
    for doc_id in ("d0", "MED-10", "caf\u00e9/\u00fcber", ""):
        digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
        assert shard_of(doc_id, 7) == int.from_bytes(digest, "little") % 7
    assert [shard_of(f"doc{n}", 4) for n in range(6)] == [shard_of(f"doc{n}", 4) for n in range(6)]
    counts = np.bincount([shard_of(f"doc{n}", 4) for n in range(2000)], minlength=4)
    assert counts.min() > 400, counts  # spread evenly


@pytest.mark.parametrize("shards", [2, 3])
@pytest.mark.parametrize("weighting", ["model", "idf", "model-idf"])
def test_bm25_sharded_equals_one_index(bm25_pairs, shards, weighting):
    one, sharded = bm25_pairs[shards]
    assert_same_results(one, sharded, SearchOptions(query_weighting=weighting))


def test_ties_across_shards_keep_the_input_order(bm25_pairs):
    one, sharded = bm25_pairs[3]
    copies = {"d0": "c0", "d2": "c1", "d4": "c2"}  # exact copies: equal scores, often in other shards
    assert any(shard_of(a, 3) != shard_of(b, 3) for a, b in copies.items())
    hits = open_search(sharded).search("vitamin calcium green tea boundary layer", 20).hits
    position = {hit.id: at for at, hit in enumerate(hits)}
    for original, copy in copies.items():
        assert hits[position[original]].score == hits[position[copy]].score
        assert position[original] < position[copy]  # the original came first in the input


def test_algorithms_and_pruning_options_give_the_same_hits(bm25_pairs):
    one, sharded = bm25_pairs[2]
    for algorithm in ("exhaustive", "maxscore", "block_max_maxscore"):
        assert_same_results(one, sharded, SearchOptions(algorithm=algorithm), ks=(5,))


def test_the_build_records_global_statistics_and_one_quantizer(bm25_pairs):
    one, sharded = bm25_pairs[3]
    manifest = read_sharded_manifest(sharded)
    single = InvertedIndex(one)
    shards = [InvertedIndex(sharded / name) for name in manifest.shards]
    assert manifest.num_docs == single.num_docs == sum(index.num_docs for index in shards)
    assert list(manifest.shard_docs) == [index.num_docs for index in shards] and min(manifest.shard_docs) > 0
    assert np.array_equal(read_global_doc_freq(sharded), np.asarray(single.doc_freq))
    assert {index.quantizer for index in shards} == {single.quantizer} == {manifest.quantization}
    encoder = single.load_encoder()
    assert manifest.avg_doc_length == pytest.approx(encoder.avg_doc_length)
    for number, index in enumerate(shards):  # each document lives in the shard its id hashes to
        assert {shard_of(doc_id, 3) for doc_id in index.docstore.all_ids()} == {number}
    raw = json.loads((sharded / "shards.json").read_text())
    assert raw["format"] == "lexir-sharded" and raw["hash"] == "blake2b-8-le" and raw["num_shards"] == 3


def test_explain_and_stored_texts_come_from_the_owning_shard(bm25_pairs):
    one, sharded = bm25_pairs[3]
    expected = open_search(one).search("statins and heart disease", 5, explain=True, with_text=True)
    got = open_search(sharded).search("statins and heart disease", 5, explain=True, with_text=True)
    assert [hit.to_dict() for hit in got.hits] == [hit.to_dict() for hit in expected.hits]
    assert got.query_terms == expected.query_terms and got.hits[0].contributions


def test_inference_free_text_idf_sharded_equals_one_index(tmp_path, splade_tiny):
    def encoder():
        return InferenceFreeEncoder("splade-tiny", name="splade-tiny-if", idf="text", loaded_model=splade_tiny.model)

    # global chunks of 16 documents, encoded 8 at a time (the fixture's batch size), are the batches one index's
    # build encodes too: each document's vector is the same bit for bit
    one, sharded = build_pair(tmp_path, encoder, 2, chunk_size=16, documents=sharded_documents(32))
    assert_same_results(one, sharded, SearchOptions(), ks=(4, 60))
    assert_same_results(one, sharded, SearchOptions(query_weighting="model-idf"), ks=(4,))


@pytest.mark.usefixtures("one_torch_thread")
def test_dense_and_hybrid_sharded_equal_one_index(tmp_path, minilm):
    from lexir.encoders.registry import create_dense_encoder

    # one text per forward pass: a text's embedding then never depends on the batch it was padded in (the shards
    # encode their documents in other batches than one index does)
    unbatched = create_dense_encoder("minilm", batch_size=1)
    # no exact copies: FAISS orders equal scores as its heap leaves them, not by document number
    documents = [document for document in sharded_documents(30) if not document[0].startswith("c")]
    one, sharded = build_pair(tmp_path, lambda: create_encoder("bm25"), 2, documents=documents)
    add_dense(one, unbatched, progress=False)
    add_dense_sharded(sharded, unbatched, progress=False)
    for options in (SearchOptions(mode="dense"), SearchOptions(mode="hybrid"),
                    SearchOptions(mode="hybrid", fusion=Fusion("convex", normalization="zscore"))):
        assert_same_results(one, sharded, options, ks=(5,), dense_encoder=unbatched)


def test_pre_encoded_vectors_go_through_the_same_build(tmp_path):
    from lexir.formats.inputs import open_vectors

    documents = sharded_documents(30)
    lines = [json.dumps({"id": doc_id, "contents": text,
                         "vector": {word: float(len(word) % 5 + 1) for word in text.lower().split()[:12]}})
             for doc_id, _, text in documents]
    (tmp_path / "vectors.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from lexir.index import build_index

    corpus, encoder = open_vectors(str(tmp_path / "vectors.jsonl"), "jsonvector", None, skip_bad_lines=False,
                                   work_folder=tmp_path)
    build_index(corpus, encoder, tmp_path / "one", progress=False)
    corpus, encoder = open_vectors(str(tmp_path / "vectors.jsonl"), "jsonvector", None, skip_bad_lines=False,
                                   work_folder=tmp_path)
    build_sharded_index(corpus, encoder, tmp_path / "sharded", 2, chunk_size=8, progress=False)
    assert read_sharded_manifest(tmp_path / "sharded").quantization.scale == 1.0  # whole weights: kept exactly
    single, split = open_search(tmp_path / "one"), open_search(tmp_path / "sharded")
    for query in ({"heat": 2.0, "flow": 1.0}, {"vitamin": 1.0}, {"the": 1.0, "blood": 3.0}):
        assert listed(split.search(query, 10)) == listed(single.search(query, 10))


def test_a_corpus_too_small_for_the_shards_is_refused(tmp_path):
    from lexir.errors import LexirError

    source = write_jsonl(tmp_path / "docs.jsonl", sharded_documents()[:3])
    with pytest.raises(LexirError, match="would hold no documents"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), tmp_path / "sharded", 16, progress=False)
    with pytest.raises(LexirError, match="number of shards"):
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), tmp_path / "sharded", 0, progress=False)


class ThreadRecordingShard(LocalShard):
    """A local shard that notes the thread each ranking ran in."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.threads: list[str] = []

    def rank_encoded(self, queries, k, options):
        self.threads.append(threading.current_thread().name)
        return super().rank_encoded(queries, k, options)


def test_one_query_goes_to_threads_only_when_its_postings_pay_for_the_hand_over(bm25_pairs):
    one, sharded = bm25_pairs[2]
    manifest = read_sharded_manifest(sharded)
    shards = [ThreadRecordingShard(sharded / name, read_ordinals(sharded, name, docs))
              for name, docs in zip(manifest.shards, manifest.shard_docs)]
    index = ShardedIndex(sharded, shards)
    split, single = open_search(index), open_search(one)
    small, large = "vitamin", "the heat flow in the blood"
    assert split.query_figures(small)[1] < split.query_figures(large)[1]
    index.parallel_postings = split.query_figures(large)[1]  # the large query reaches it, the small one does not
    for query, pooled in ((small, False), (large, True)):
        for shard in shards:
            shard.threads.clear()
        assert listed(split.search(query, 8)) == listed(single.search(query, 8))
        if pooled:
            assert shards[0].threads == ["MainThread"]  # the first shard always runs in the calling thread
            assert shards[1].threads[0].startswith("lexir-shard"), query
        else:  # the shards' bases ranked together in one kernel call, in the calling thread (base_parts.py)
            assert all(shard.threads == [] for shard in shards)
    for shard in shards:
        shard.threads.clear()
    split.search_batch([small, large], 8)  # a batch over base-only shards: one parallel kernel call, no shard ranks
    assert all(shard.threads == [] for shard in shards)
    for shard in shards:
        shard.threads.clear()
    index.threads = False  # never threads: the large query too is one kernel call in the calling thread
    assert listed(split.search(large, 8)) == listed(single.search(large, 8))
    assert all(shard.threads == [] for shard in shards)
