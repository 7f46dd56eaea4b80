"""Every documented option of `lexir search`, `lexir index add-dense|build --dense|merge` and `lexir eval` (dense,
hybrid, several indexes) on the 12 test documents, run as a user runs them: what each option changes is checked
against values worked out here from the plain (option-less) outputs, not only the exit status.

The indexes are built once per module through the command line (`index build --encoder bm25 --dense minilm`,
`index build --encoder splade-tiny-if`); tests that write copy them first.
"""

from __future__ import annotations

import functools
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import lexir, write_beir_folder, write_jsonl
from tests.texts import DOCUMENTS, QUERIES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEY = "options-test-key"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("options") / "docs.jsonl")


@pytest.fixture(scope="module")
def hybrid_index(corpus, minilm) -> Path:
    """BM25 with a flat MiniLM dense side, in one command."""
    out = corpus.parent / "bm25-minilm"
    built = lexir("index", "build", corpus, "--encoder", "bm25", "--dense", "minilm", "--out", out, "--quiet")
    assert "indexed 12 documents" in built.stderr
    assert "added a dense side (12 vectors of 384 dims, flat)" in " ".join(built.stderr.split())
    return out


@pytest.fixture(scope="module")
def bm25_index(corpus) -> Path:
    out = corpus.parent / "bm25"
    lexir("index", "build", corpus, "--encoder", "bm25", "--out", out, "--quiet")
    return out


@pytest.fixture(scope="module")
def if_index(corpus, splade_tiny) -> Path:
    out = corpus.parent / "splade-tiny-if"
    lexir("index", "build", corpus, "--encoder", "splade-tiny-if", "--out", out, "--quiet")
    return out


def search(index: Path, query: str, *options: object) -> list[dict]:
    return lexir("search", index, query, "--json", *options).json()["hits"]


@functools.lru_cache(maxsize=None)
def ranked_list(index: Path, query: str, mode: str) -> tuple[dict, ...]:
    """A mode's whole list (100 hits), searched once per module: the read-only indexes never change."""
    return tuple(search(index, query, "-k", "100", "--mode", mode))


def side_lists(index: Path, query: str) -> list[list[dict]]:
    return [list(ranked_list(index, query, mode)) for mode in ("sparse", "dense")]


def scores(hits: list[dict]) -> dict[str, float]:
    return {hit["id"]: hit["score"] for hit in hits}


# ------------------------------------------------------------------------------------------------ sparse search


@pytest.mark.parametrize("cut", [1, 2])
def test_query_cut_scores_and_explains_only_the_terms_it_keeps(bm25_index, cut):
    query = "vitamin d and blood pressure after a heart attack"
    full = search(bm25_index, query, "-k", "12", "--explain")
    approx = search(bm25_index, query, "-k", "12", "--explain", "--query-cut", cut)
    # A term's bound is its largest contribution to any document (k = 12 covers every match).
    bound: dict[str, float] = {}
    for hit in full:
        for term, part in hit["contributions"].items():
            bound[term] = max(bound.get(term, 0.0), part)
    kept = set().union(*(hit["contributions"] for hit in approx))
    assert len(kept) == cut, approx  # a cut of N explains with N terms, never the dropped ones
    assert min(bound[t] for t in kept) >= max(bound[t] for t in bound if t not in kept)
    expected = {hit["id"]: sum(part for term, part in hit["contributions"].items() if term in kept) for hit in full}
    expected = {doc_id: value for doc_id, value in expected.items() if value > 0}
    assert {hit["id"] for hit in approx} == set(expected)  # the documents the kept terms match, no others
    assert [hit["score"] for hit in approx] == sorted((hit["score"] for hit in approx), reverse=True)
    for hit in approx:
        assert set(hit["contributions"]) <= kept
        assert sum(hit["contributions"].values()) == pytest.approx(hit["score"], rel=1e-6)
        assert hit["score"] == pytest.approx(expected[hit["id"]], rel=1e-6)
    assert len(approx) < len(full)


def test_heap_factor_may_drop_hits_but_returned_scores_stay_exact(bm25_index):
    dropped = 0
    for query in ("vitamin d and blood pressure", "coffee blood pressure", "statins and heart disease"):
        exact = scores(search(bm25_index, query, "-k", "12"))
        for k in (1, 3):
            top = search(bm25_index, query, "-k", k, "--algorithm", "maxscore")
            for factor in ("0.5", "0.2"):
                approx = search(bm25_index, query, "-k", k, "--algorithm", "maxscore", "--heap-factor", factor)
                assert len(approx) <= k
                for hit in approx:
                    assert hit["score"] == exact[hit["id"]]  # the exact score of the document, bit for bit
                assert [h["score"] for h in approx] == sorted((h["score"] for h in approx), reverse=True)
                dropped += {h["id"] for h in top} != {h["id"] for h in approx}
    assert dropped > 0  # a factor below 1 does skip documents of the exact top k


def test_every_algorithm_returns_exhaustive_hits_and_the_option_is_honoured(bm25_index):
    for query in ("vitamin d and blood pressure", "turbulent boundary layer heat transfer", "sleep"):
        reference = search(bm25_index, query, "-k", "5", "--algorithm", "exhaustive")
        for algorithm in ("auto", "maxscore", "block_max_maxscore"):
            assert search(bm25_index, query, "-k", "5", "--algorithm", algorithm) == reference, algorithm
    # The algorithm named is the one that runs: exhaustive cannot take a heap factor, the pruning ones can.
    refused = lexir("search", bm25_index, "heat", "--algorithm", "exhaustive", "--heap-factor", "0.5", check=False)
    assert refused.code == 1 and "pruning algorithm" in refused.stderr
    for algorithm in ("maxscore", "block_max_maxscore", "auto"):
        lexir("search", bm25_index, "heat", "--algorithm", algorithm, "--heap-factor", "0.5")
    refused = lexir("search", bm25_index, "heat", "--algorithm", "wand", check=False)
    assert refused.code == 1 and "block_max_maxscore" in refused.stderr


def document_frequency(word: str) -> int:
    return sum(bool(re.search(rf"\b{word}\b", f"{title} {text}", re.IGNORECASE)) for _, title, text in DOCUMENTS)


def test_query_weighting_idf_and_model_idf(bm25_index):
    """BM25 query vectors hold term counts: `idf` gives each term the corpus IDF instead, `model-idf` the product."""
    query = "blood blood vitamin"
    by = {weighting: {hit["id"]: hit for hit in search(bm25_index, query, "-k", "12", "--explain",
                                                         "--query-weighting", weighting)}
          for weighting in ("model", "idf", "model-idf")}
    assert set(by["model"]) == set(by["idf"]) == set(by["model-idf"]) == {"d0", "d1", "d6", "d8", "d9"}
    n = len(DOCUMENTS)
    idf = {word: math.log(1 + (n - document_frequency(word) + 0.5) / (document_frequency(word) + 0.5))
           for word in ("blood", "vitamin")}
    counts = {"blood": 2, "vitamin": 1}
    for doc_id, hit in by["model"].items():
        for term, part in hit["contributions"].items():
            assert by["idf"][doc_id]["contributions"][term] == pytest.approx(part / counts[term] * idf[term], rel=1e-5)
            assert by["model-idf"][doc_id]["contributions"][term] == pytest.approx(part * idf[term], rel=1e-5)
        for weighting in ("idf", "model-idf"):
            other = by[weighting][doc_id]
            assert other["score"] == pytest.approx(sum(other["contributions"].values()), rel=1e-6)


def test_query_options_of_an_inference_free_index(if_index, tmp_path):
    query = "vitamin d and blood pressure"
    plain = search(if_index, query, "-k", "12", "--explain")
    assert max(len(hit["contributions"]) for hit in plain) >= 2
    one = search(if_index, query, "-k", "12", "--explain", "--query-option", "max_query_terms=1")
    assert len(set().union(*(hit["contributions"] for hit in one))) == 1
    assert len(one) < len(plain)

    counted = {hit["id"]: hit["contributions"] for hit in
               search(if_index, "heat heat transfer", "-k", "12", "--explain", "--query-option", "query_tf=count")}
    binary = {hit["id"]: hit["contributions"]
              for hit in search(if_index, "heat heat transfer", "-k", "12", "--explain")}
    assert set(counted) == set(binary)
    for doc_id, parts in binary.items():
        for token, part in parts.items():
            assert counted[doc_id][token] == pytest.approx(part * (2 if token == "heat" else 1), rel=1e-5)

    files = {}
    for name, table in (("a", {"vitamin": 2.0, "heat": 0.5}), ("b", {"vitamin": 1.0, "heat": 1.0})):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(table))
    by_file = {name: {hit["id"]: hit["contributions"] for hit in search(
        if_index, "vitamin heat blood", "-k", "12", "--explain", "--query-option", f"idf={path}")}
        for name, path in files.items()}
    assert by_file["a"] and set(by_file["a"]) == set(by_file["b"])
    for doc_id, parts in by_file["b"].items():
        assert set(parts) <= {"vitamin", "heat"}  # tokens the file does not list weigh nothing
        for token, part in parts.items():
            assert by_file["a"][doc_id][token] == pytest.approx(part * {"vitamin": 2.0, "heat": 0.5}[token], rel=1e-5)

    stopwords = {"the", "of", "a", "in"}
    with_stopwords = search(if_index, "the lift of a wing in the slipstream", "-k", "12", "--explain")
    assert any(stopwords & set(hit["contributions"]) for hit in with_stopwords)
    without = search(if_index, "the lift of a wing in the slipstream", "-k", "12", "--explain",
                     "--query-option", "drop_stopwords=true")
    assert without and not any(stopwords & set(hit["contributions"]) for hit in without)


def test_text_option_adds_titles_and_texts(bm25_index):
    texts = {doc_id: (title, text) for doc_id, title, text in DOCUMENTS}
    bare = search(bm25_index, "boundary layer", "-k", "3")
    assert bare and all("text" not in hit and "title" not in hit for hit in bare)
    full = search(bm25_index, "boundary layer", "-k", "3", "--text")
    assert [hit["id"] for hit in full] == [hit["id"] for hit in bare]
    for hit in full:
        assert (hit["title"], hit["text"]) == texts[hit["id"]]


# ------------------------------------------------------------------------------------------ dense and hybrid


def ranks(hits: list[dict]) -> dict[str, int]:
    return {hit["id"]: hit["rank"] for hit in hits}


def test_dense_mode_finds_documents_without_shared_words(hybrid_index):
    assert search(hybrid_index, "nap and learning", "-k", "3") == []  # no word of the query is indexed
    dense = search(hybrid_index, "nap and learning", "-k", "12", "--mode", "dense")
    assert dense[0]["id"] == "d5" and len(dense) == 12  # every document has a vector
    values = [hit["score"] for hit in dense]
    assert values == sorted(values, reverse=True) and -1 <= values[-1] and values[0] <= 1 + 1e-6  # cosine
    with_text = search(hybrid_index, "nap and learning", "-k", "1", "--mode", "dense", "--text")
    assert with_text[0]["title"] == "Sleep and memory"


def rrf_expected(lists: list[list[dict]], k: int, depth: int, weights=(1.0, 1.0), rrf_k: int = 60
                 ) -> dict[str, float]:
    """Σ w_i / (rrf_k + rank_i) over each list cut at max(k, depth) hits (a list that lacks a document adds 0)."""
    fused: dict[str, float] = {}
    for weight, hits in zip(weights, lists):
        for hit in hits[:max(k, depth)]:
            fused[hit["id"]] = fused.get(hit["id"], 0.0) + weight / (rrf_k + hit["rank"])
    return fused


def check_fused(hits: list[dict], expected: dict[str, float], k: int) -> None:
    order = sorted(expected, key=lambda doc_id: (-round(expected[doc_id], 12), doc_id))[:k]
    assert [hit["id"] for hit in hits] == order
    for hit in hits:
        assert hit["score"] == pytest.approx(expected[hit["id"]], rel=1e-9, abs=1e-12)
        assert sum(hit["contributions"].values()) == pytest.approx(hit["score"], rel=1e-9)
        assert set(hit["contributions"]) == {"sparse", "dense"}


@pytest.mark.parametrize("rrf_k", [None, 5])
def test_rrf_scores_are_weighted_reciprocal_ranks(hybrid_index, rrf_k):
    option = [] if rrf_k is None else ["--rrf-k", rrf_k]
    for query in ("coffee blood pressure", "does vitamin d prevent fractures"):
        lists = side_lists(hybrid_index, query)
        fused = search(hybrid_index, query, "-k", "12", "--mode", "hybrid", "--explain", *option)
        check_fused(fused, rrf_expected(lists, 12, 100, rrf_k=rrf_k or 60), 12)
        weighted = search(hybrid_index, query, "-k", "12", "--mode", "hybrid", "--explain", "--fuse", "rrf",
                          "--weights", "0.2,0.8", *option)
        check_fused(weighted, rrf_expected(lists, 12, 100, (0.2, 0.8), rrf_k or 60), 12)


@pytest.mark.parametrize(("k", "depth"), [(1, 1), (2, 1), (3, 2), (2, 100)])
def test_fusion_depth_limits_the_candidates_of_each_list(hybrid_index, k, depth):
    for query in ("does vitamin d prevent fractures", "coffee blood pressure", "statins and heart disease"):
        lists = side_lists(hybrid_index, query)
        fused = search(hybrid_index, query, "-k", k, "--mode", "hybrid", "--explain", "--fusion-depth", depth)
        check_fused(fused, rrf_expected(lists, k, depth), k)  # lists cut at max(k, depth) before fusing


def normalized(values: list[float], method: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    low, spread = (array.min(), np.ptp(array)) if method == "minmax" else (array.mean(), array.std())
    return (array - low) / spread if spread > 0 else np.zeros_like(array)


def convex_expected(lists: list[list[dict]], weights: tuple[float, float], method: str) -> dict[str, float]:
    """Σ w_i norm_i(score); a document a list lacks counts at that list's lowest normalized score."""
    parts = []
    for hits in lists:
        values = normalized([hit["score"] for hit in hits], method)
        parts.append(({hit["id"]: float(v) for hit, v in zip(hits, values)}, float(values.min())))
    ids = set().union(*(found for found, _ in parts))
    return {doc_id: sum(w * found.get(doc_id, floor) for w, (found, floor) in zip(weights, parts)) for doc_id in ids}


def test_convex_fusion_with_weights_and_both_normalizations(hybrid_index):
    for query in ("coffee blood pressure", "vitamin d and blood pressure", "turbulent boundary layer heat transfer"):
        lists = side_lists(hybrid_index, query)
        results = {}
        for method in ("minmax", "zscore"):
            option = [] if method == "minmax" else ["--normalization", "zscore"]
            fused = search(hybrid_index, query, "-k", "12", "--mode", "hybrid", "--explain", "--fuse", "convex",
                           "--weights", "0.3,0.7", *option)
            check_fused(fused, convex_expected(lists, (0.3, 0.7), method), 12)
            results[method] = fused
        assert scores(results["minmax"]) != scores(results["zscore"])
    refused = lexir("search", hybrid_index, "heat", "--mode", "hybrid", "--normalization", "zscore", check=False)
    assert refused.code == 1 and "--fuse convex" in refused.stderr


# ------------------------------------------------------------------------------------------------ dense sides


def dense_run(folder: Path, index: Path, out: Path) -> dict[str, list[tuple[str, float]]]:
    """Every query's dense ranking (by `lexir eval --mode dense`: one model load for all queries)."""
    lexir("eval", folder, "--index", index, "--mode", "dense", "--no-progress", "--out", out)
    return {query_id: sorted(hits.items(), key=lambda item: -item[1]) for query_id, hits in run_file(out).items()}


def test_add_dense_with_hnsw_and_ivfpq(beir_folder, bm25_index, hybrid_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(bm25_index, index)
    missing = lexir("search", index, "heat", "--mode", "dense", check=False)
    assert missing.code == 1 and "add-dense" in missing.stderr
    added = lexir("index", "add-dense", index, "--encoder", "minilm", "--dense-index", "hnsw:M=8,efSearch=16",
                  "--quiet")
    assert "12 vectors of 384 dims, hnsw:M=8,efConstruction=200,efSearch=16" in " ".join(added.stderr.split())
    info = lexir("index", "info", index, "--json").json()["dense"]
    assert info["faiss"] == {"kind": "hnsw", "params": {"M": 8, "efConstruction": 200, "efSearch": 16}}
    assert (info["count"], info["dim"], info["encoder"]["name"]) == (12, 384, "minilm")
    flat = dense_run(beir_folder, hybrid_index, tmp_path / "flat")
    hnsw = dense_run(beir_folder, index, tmp_path / "hnsw")
    for query_id, hits in flat.items():  # 12 vectors: HNSW's graph search is exact here
        assert [doc for doc, _ in hnsw[query_id]] == [doc for doc, _ in hits]
        assert [score for _, score in hnsw[query_id]] == pytest.approx([score for _, score in hits], abs=1e-5)

    again = lexir("index", "add-dense", index, "--encoder", "minilm", "--quiet", check=False)
    assert again.code == 1 and "--overwrite" in again.stderr
    lexir("index", "add-dense", index, "--encoder", "minilm", "--overwrite", "--quiet",
          "--dense-index", "ivfpq:nlist=2,m=48,nbits=2,nprobe=2")
    info = lexir("index", "info", index, "--json").json()["dense"]
    assert info["faiss"] == {"kind": "ivfpq", "params": {"nlist": 2, "m": 48, "nbits": 2, "nprobe": 2}}
    pq = dense_run(beir_folder, index, tmp_path / "ivfpq")
    for query_id, hits in flat.items():
        assert sorted(doc for doc, _ in pq[query_id]) == sorted(doc for doc, _ in hits)  # nprobe = nlist: all
        assert pq[query_id][0][0] == hits[0][0]  # quantized scores, the same clear winner
        assert pq[query_id] != hits  # ... but not the exact scores: the PQ index is what was searched
    too_big = lexir("index", "add-dense", index, "--overwrite", "--dense-index", "ivfpq:nlist=64", check=False)
    assert too_big.code == 1 and "at least 256 documents" in too_big.stderr


# ------------------------------------------------------------------------------------------------------ merge


def test_index_merge_folds_segments_and_keeps_every_result(bm25_index, tmp_path):
    from fastapi.testclient import TestClient

    from lexir.api.app import create_app

    index = tmp_path / "index"
    shutil.copytree(bm25_index, index)
    with TestClient(create_app(index, api_key=KEY)) as client:
        for batch in ([("n1", "Heat shields", "Ablative heat shields protect capsules from heat on reentry."),
                       ("n2", "Tea and sleep", "Chamomile tea before bed may help sleep.")],
                      [("n3", "Wing icing", "Ice on the leading edge of a wing reduces lift."),
                       ("d2", "Green tea, revised", "Green tea catechins and blood pressure.")]):
            documents = [{"id": i, "title": t, "text": x} for i, t, x in batch]
            assert client.post("/documents", json={"documents": documents},
                               headers={"X-API-Key": KEY}).status_code == 200
        assert client.delete("/documents/n2", headers={"X-API-Key": KEY}).status_code == 200
        assert client.delete("/documents/d9", headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/stats", headers={"X-API-Key": KEY}).json()["segments"] == 3
    queries = [*QUERIES, "heat shields", "tea", "wing lift ice", "blood pressure"]
    before = {query: search(index, query, "-k", "20", "--explain") for query in queries}
    assert {"n1", "n3", "d2"} <= {hit["id"] for hits in before.values() for hit in hits}
    assert not {"n2", "d9"} & {hit["id"] for hits in before.values() for hit in hits}

    merged = lexir("index", "merge", index)
    assert "merged 2 segments into 1" in merged.stderr
    live = json.loads((index / "live.json").read_text())
    assert len(live["segments"]) == 1 and set(live["deleted"]) == {""}  # the base keeps its tombstones
    segment = index / "segments" / live["segments"][0]
    assert lexir("index", "info", segment, "--json").json()["num_docs"] == 3  # n1, n3, the new d2 (n2 dropped)
    for query in queries:
        assert search(index, query, "-k", "20", "--explain") == before[query], query


# ------------------------------------------------------------------------------------------------------ eval


JUDGED = {"q1": ("does vitamin d prevent fractures", {"d8": 2, "d0": 1}),
          "q2": ("lift of a wing in a propeller slipstream", {"d3": 1}),
          "q3": ("turbulent boundary layer heat transfer", {"d4": 1, "d11": 1}),
          "q4": ("coffee blood pressure", {"d6": 1, "d9": 1}),
          "q5": ("nap and learning", {"d5": 1})}


@pytest.fixture(scope="module")
def beir_folder(corpus) -> Path:
    return write_beir_folder(corpus.parent / "beir", {"test": JUDGED})


def run_file(folder: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in (folder / "run.trec").read_text().splitlines():
        query_id, _, doc_id, _, score, _ = line.split()
        run.setdefault(query_id, {})[doc_id] = float(score)
    return run


def test_eval_dense_and_hybrid_runs_are_the_searches(beir_folder, hybrid_index, tmp_path):
    for mode, extra in (("dense", []), ("hybrid", []), ("hybrid", ["--fuse", "convex", "--weights", "0.4,0.6"])):
        out = tmp_path / f"{mode}-{len(extra)}"
        lexir("eval", beir_folder, "--index", hybrid_index, "--mode", mode, *extra, "--no-progress", "--out", out)
        result = json.loads((out / "result.json").read_text())
        assert result["query"]["mode"] == mode and result["num_queries"] == len(JUDGED)
        run = run_file(out)
        for query_id, (text, _) in JUDGED.items():
            hits = search(hybrid_index, text, "-k", "12", "--mode", mode, *extra)
            assert run[query_id] == pytest.approx(scores(hits), rel=1e-6, abs=1e-7), (mode, query_id)
    dense = json.loads((tmp_path / "dense-0" / "result.json").read_text())
    assert dense["encoder"]["kind"] == "dense" and dense["encoder"]["name"] == "minilm"


def test_eval_fuses_several_indexes_with_weights(beir_folder, bm25_index, if_index, tmp_path):
    lists = {}
    for name, index in (("bm25", bm25_index), ("if", if_index)):
        lists[name] = {query_id: search(index, text, "-k", "12") for query_id, (text, _) in JUDGED.items()}
    for weights in ((0.3, 0.7), (0.7, 0.3)):
        out = tmp_path / f"fused-{weights[0]}"
        lexir("eval", beir_folder, "--index", bm25_index, "--index", if_index, "--weights",
              ",".join(map(str, weights)), "--no-progress", "--out", out)
        result = json.loads((out / "result.json").read_text())
        assert result["encoder"]["name"] == "rrf(bm25 + splade-tiny-if)"
        assert result["encoder"]["fusion"]["weights"] == list(weights)
        run = run_file(out)
        for query_id in JUDGED:
            expected = rrf_expected([lists["bm25"][query_id], lists["if"][query_id]], 1000, 100, weights)
            assert run.get(query_id, {}) == pytest.approx(expected, rel=1e-7), (weights, query_id)
    assert run_file(tmp_path / "fused-0.3") != run_file(tmp_path / "fused-0.7")


def test_dense_and_hybrid_search_leave_deleted_documents_out(hybrid_index, tmp_path):
    """README: deleted documents are filtered out of every mode. The API does so; `lexir search` must too."""
    from fastapi.testclient import TestClient

    from lexir.api.app import create_app

    index = tmp_path / "index"
    shutil.copytree(hybrid_index, index)
    with TestClient(create_app(index, api_key=KEY)) as client:
        assert client.delete("/documents/d5", headers={"X-API-Key": KEY}).status_code == 200
        served = {mode: [hit["id"] for hit in client.get("/search", params={
            "q": "nap and learning", "k": 11, "mode": mode}).json()["hits"]] for mode in ("dense", "hybrid")}
    for mode in ("dense", "hybrid"):
        assert "d5" not in served[mode] and len(served[mode]) == 11
        found = [hit["id"] for hit in search(index, "nap and learning", "-k", "11", "--mode", mode)]
        assert found == served[mode], mode
