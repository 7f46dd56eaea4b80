"""Presets: the shipped file parses, bad presets and unknown names are refused, --preset stands alone."""

from __future__ import annotations

import pytest

from lexir.errors import LexirError
from lexir.eval.cli import eval_app
from lexir.presets import index_differences, load_preset, parse_presets, presets
from lexir.search.feedback import Feedback
from lexir.search.fusion import Fusion
from tests.unit.test_hybrid import invoke, invoke_error

GOOD = """
[small]
description = "BM25 with RM3"
sparse = "bm25"
prf = { method = "rm3", docs = 5, terms = 20, weight = 0.6 }

[fused]
sparse = "bm25"
dense = "minilm"
mode = "hybrid"
fuse = "convex"
normalization = "zscore"
weights = [0.4, 0.6]
dense_prf = { docs = 2 }
"""


def test_presets_parse_into_search_options():
    parsed = parse_presets(GOOD)
    assert parsed["small"].options.prf == Feedback("rm3", docs=5, terms=20, weight=0.6)
    assert parsed["small"].options.mode == "sparse" and parsed["small"].dense is None
    fused = parsed["fused"]
    assert fused.options.fusion == Fusion("convex", weights=(0.4, 0.6), normalization="zscore")
    assert fused.options.dense_prf.method == "rocchio" and fused.options.dense_prf.docs == 2
    assert (fused.sparse, fused.dense) == ("bm25", "minilm")


def test_sparse_options_name_the_index_and_are_checked():
    parsed = parse_presets("[p]\nsparse = 'bm25'\nsparse_options = { k1 = 1.2, b = 0.75 }")["p"]
    assert parsed.sparse_options == {"k1": 1.2, "b": 0.75} and parsed.sparse_label == "bm25(b=0.75,k1=1.2)"
    assert parse_presets(GOOD)["small"].sparse_label == "bm25"
    with pytest.raises(LexirError, match="sparse_options must be a table"):
        parse_presets("[p]\nsparse = 'bm25'\nsparse_options = { k1 = [1] }")


def test_a_cached_index_built_with_other_bm25_settings_is_rebuilt(tmp_path):
    from lexir.eval import load_dataset
    from lexir.eval.indexes import prepare_index
    from lexir.index.format import read_manifest
    from tests.unit.test_eval_run import write_beir_folder

    dataset = load_dataset(str(write_beir_folder(tmp_path / "tiny")))
    built = [prepare_index(dataset, encoder_name="bm25", cache=tmp_path / "cache", cache_name="same", progress=False,
                           encoder_options=options) for options in ({}, {"k1": 1.5}, {"k1": 1.5})]
    assert [one.built_now for one in built] == [True, True, False]
    assert read_manifest(built[2].path).encoder.params["k1"] == 1.5


def test_shipped_presets_are_valid():
    best = load_preset("offline-best")
    assert best.options.mode == "hybrid" and best.dense is not None and best.sparse == "bm25"
    assert "offline-best" in presets()


@pytest.mark.parametrize("text, message", [
    ("[p]\nsparse = 'bm25'\nalpha = 1", "unknown settings alpha"),
    ("[p]\ndense = 'minilm'", "must name its sparse encoder"),
    ("[p]\nsparse = 'bm25'\nmode = 'hybrid'", "must name its dense encoder"),
    ("[p]\nsparse = 'bm25'\nprf = { method = 'rm3', depth = 3 }", "preset 'p'"),
    ("[p]\nsparse = 'bm25'\nprf = { method = 'bo1' }", "unknown feedback method"),
    ("[p\nsparse = 'bm25'", "not valid TOML"),
])
def test_bad_presets_are_refused(text, message):
    with pytest.raises(LexirError, match=message):
        parse_presets(text)


def test_unknown_preset_and_mixed_options_are_refused():
    with pytest.raises(LexirError, match="unknown preset 'fastest'; known presets: .*offline-best"):
        load_preset("fastest")
    assert "unknown preset" in invoke_error(eval_app, "cranfield", "--preset", "fastest")
    message = invoke_error(eval_app, "cranfield", "--preset", "offline-best", "--mode", "dense", "--prf", "rm3")
    assert "give it alone, not with --mode, --prf" in message
    assert "not both" in invoke_error(eval_app, "cranfield", "--preset", "offline-best", "--encoder", "bm25")


def test_index_build_takes_the_presets_sparse_settings(tmp_path, minilm):
    from lexir.index.format import read_manifest
    from tests.helpers import write_jsonl

    best = load_preset("offline-best")
    app = __import__("lexir.cli", fromlist=["app"]).app
    outcome = invoke(app, "index", "build", str(write_jsonl(tmp_path / "docs.jsonl")), "--preset", "offline-best",
                     "--out", str(tmp_path / "ix"), "--quiet")
    assert outcome.exit_code == 0, outcome.output
    params = read_manifest(tmp_path / "ix").encoder.params
    assert best.sparse_options and all(params[key] == value for key, value in best.sparse_options.items())
    assert (tmp_path / "ix" / "dense").is_dir()


def test_search_takes_a_preset(dense_index):
    outcome = invoke(__import__("lexir.cli", fromlist=["app"]).app, "search", str(dense_index), "strong bones",
                     "--preset", "offline-best", "--json", "-k", "3")
    assert outcome.exit_code == 0, outcome.output
    assert '"hits"' in outcome.stdout


def test_an_index_built_otherwise_than_the_preset_is_named_in_a_warning(dense_index, tmp_path, caplog):
    best = load_preset("offline-best")  # BM25 with b 0.55; dense_index has BM25's default b 0.4, the same k1
    assert index_differences(best, dense_index) == [f"b 0.4, not {best.sparse_options['b']}"]
    own = parse_presets("[p]\nsparse = 'bm25'\nsparse_options = { k1 = 0.9, b = 0.4 }")["p"]
    assert index_differences(own, dense_index) == []
    assert index_differences(parse_presets("[p]\nsparse = 'splade-tiny'")["p"], dense_index) == [
        "encoder bm25, not splade-tiny"]
    assert index_differences(best, tmp_path) == []  # not an index: opening it reports that
    with caplog.at_level("WARNING", logger="lexir.presets"):
        outcome = invoke(__import__("lexir.cli", fromlist=["app"]).app, "search", str(dense_index), "bones",
                         "--preset", "offline-best", "--json", "-k", "1")
    assert outcome.exit_code == 0, outcome.output
    assert any("b 0.4, not 0.55" in record.getMessage() for record in caplog.records)


def test_serve_applies_the_preset_and_requests_override_it(dense_index, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from lexir.api.app import create_app
    from lexir.search import SearchOptions, open_search

    best = load_preset("offline-best")
    copy = tmp_path / "index"
    shutil.copytree(dense_index, copy)
    query = "strong bones"

    def ids_and_scores(hits):
        return [(hit["id"] if isinstance(hit, dict) else hit.id,
                 round(hit["score"] if isinstance(hit, dict) else hit.score, 4)) for hit in hits]

    expected = open_search(copy, best.options).search(query, k=5).hits
    sparse_rm3 = open_search(copy, SearchOptions(prf=best.options.prf)).search(query, k=5).hits
    plain = open_search(copy, SearchOptions()).search(query, k=5).hits
    with TestClient(create_app(copy, preset=best)) as client:
        by_default = client.get("/search", params={"q": query, "k": 5}).json()["hits"]
        as_sparse = client.post("/search", json={"q": query, "k": 5, "mode": "sparse"}).json()["hits"]
        no_feedback = client.post("/search", json={"q": query, "k": 5, "mode": "sparse", "prf": None}).json()["hits"]
    assert ids_and_scores(by_default) == ids_and_scores(expected)
    assert ids_and_scores(as_sparse) == ids_and_scores(sparse_rm3)  # the preset's fusion is dropped, its RM3 kept
    assert ids_and_scores(no_feedback) == ids_and_scores(plain)
    assert ids_and_scores(by_default) != ids_and_scores(plain)


def test_serve_refuses_a_preset_the_index_cannot_serve(tmp_path):
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index
    from tests.helpers import lexir, write_jsonl

    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "ix",
                progress=False)
    unknown = lexir("serve", tmp_path / "ix", "--preset", "fastest", check=False)
    assert unknown.code != 0 and "unknown preset 'fastest'" in unknown.stderr
    no_dense = lexir("serve", tmp_path / "ix", "--preset", "offline-best", check=False)
    assert no_dense.code != 0 and "searches a dense side" in no_dense.stderr


def test_eval_builds_and_reuses_the_indexes_a_preset_needs(tmp_path, monkeypatch):
    from pathlib import Path

    from lexir.eval import load_dataset
    from lexir.eval.datasets import slugify
    from lexir.eval.runner import evaluate
    from lexir.index.format import read_manifest
    from tests.unit.test_eval_run import write_beir_folder

    monkeypatch.setenv("LEXIR_CACHE", str(tmp_path / "cache"))
    dataset = load_dataset(str(write_beir_folder(tmp_path / "tiny")))
    best = load_preset("offline-best")
    first = evaluate(dataset, preset=best, progress=False)
    second = evaluate(dataset, preset=best, progress=False)
    folder = Path(first.index.path)
    assert folder.name.startswith(f"tiny-{slugify(best.sparse_label + '+' + best.dense)}-")
    assert (folder / "dense").is_dir()
    assert all(read_manifest(folder).encoder.params[key] == value for key, value in best.sparse_options.items())
    assert second.index.path == first.index.path
    assert [path for path in folder.parent.iterdir() if path.is_dir()] == [folder]  # one build, then reused
    assert first.query["preset"] == "offline-best" and first.encoder["kind"] == "fused"
    assert second.per_query == first.per_query


def test_serve_looks_for_a_sharded_index_dense_side_in_its_shards(tmp_path, minilm):
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index.sharded_build import build_sharded_index
    from lexir.index.sharded_ops import add_dense_sharded
    from tests.helpers import lexir, write_jsonl
    from tests.unit.sharded_corpus import sharded_documents

    sharded = tmp_path / "sharded"
    build_sharded_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl", sharded_documents(12)))),
                        create_encoder("bm25"), sharded, 2, progress=False)
    no_dense = lexir("serve", sharded, "--preset", "offline-best", check=False)
    assert no_dense.code != 0 and "searches a dense side" in no_dense.stderr
    add_dense_sharded(sharded, minilm, progress=False)  # every shard gets one; the top-level folder none
    assert not (sharded / "dense").exists()
    no_feedback = lexir("serve", sharded, "--preset", "offline-best", check=False)  # found: the feedback is refused
    assert no_feedback.code != 0 and "pseudo-relevance feedback" in no_feedback.stderr, no_feedback.stderr
