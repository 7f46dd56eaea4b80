"""Hybrid search and fused evaluation on a small real index: fusion of real lists, tuning rules, CLI errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lexir.cli import app as cli_app
from lexir.errors import LexirError
from lexir.eval.cli import eval_app
from lexir.eval.datasets import EvalDataset, Topic
from lexir.eval.hybrid import ALPHA_GRID, evaluate_fused
from lexir.index import InvertedIndex
from lexir.index.dense import DENSE_DIR
from lexir.search import Searcher
from lexir.search.dense import DenseSearcher
from lexir.search.fusion import Fusion, fuse
from lexir.search.hybrid import HybridSearcher, open_retrievers

QUERY = "does vitamin d prevent fractures"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def retrievers(dense_index, minilm):
    index = InvertedIndex(dense_index)
    return {"sparse": Searcher(index), "dense": DenseSearcher(index, encoder=minilm)}


def test_hybrid_fuses_each_sides_own_lists(retrievers):
    searcher = HybridSearcher(retrievers, Fusion("convex", weights=(0.3, 0.7)))
    lists = searcher.ranked_lists_one(QUERY, 5)
    sparse, dense = retrievers["sparse"], retrievers["dense"]
    assert lists[0].nums.tolist() == sparse.rank_one(sparse.encode([QUERY]), 100).nums.tolist()
    assert lists[1].nums.tolist() == dense.rank_one(dense.encode([QUERY]), 100).nums.tolist()
    result = searcher.search(QUERY, k=5, explain=True, with_text=True)
    expected = fuse(lists, Fusion("convex", weights=(0.3, 0.7)), 5)
    assert [hit.id for hit in result.hits] == expected.keys.tolist()
    assert result.hits[0].id in {"d0", "d8"} and result.hits[0].title
    for hit in result.hits:
        assert sum(hit.contributions.values()) == pytest.approx(hit.score)
    batched = searcher.search_batch([QUERY, "boundary layer transition"], k=5)
    assert batched[0].keys.tolist() == expected.keys.tolist()


def test_one_retriever_keeps_its_own_scores(retrievers):
    dense = retrievers["dense"]
    searcher = HybridSearcher({"dense": dense})
    fused = searcher.search_one(QUERY, 3)
    ranked = dense.rank_one(dense.encode([QUERY]), 3)
    assert fused.scores.tolist() == pytest.approx(ranked.scores.tolist())
    with pytest.raises(LexirError, match="two or more retrievers"):
        HybridSearcher({"dense": dense}, Fusion())
    with pytest.raises(LexirError, match="1 fusion weights were given for 2"):
        HybridSearcher(retrievers, Fusion(weights=(1.0,)))
    for bad_k in (0, -3):
        with pytest.raises(LexirError, match="positive number of hits"):
            HybridSearcher(retrievers).search_one(QUERY, bad_k)
    with pytest.raises(LexirError, match="query is empty"):
        HybridSearcher(retrievers).search_one("  ", 3)


def test_modes(dense_index):
    assert list(open_retrievers([dense_index], "hybrid")) == ["sparse", "dense"]
    assert [type(r) for r in open_retrievers([dense_index], "sparse").values()] == [Searcher]
    assert [type(r) for r in open_retrievers([dense_index], "dense").values()] == [DenseSearcher]
    with pytest.raises(LexirError, match="unknown search mode 'semantic'"):
        open_retrievers([dense_index], "semantic")
    with pytest.raises(LexirError, match="given twice"):
        open_retrievers([dense_index, dense_index], "sparse")


def toy_split(name: str, source: str, queries: dict[str, tuple[str, str]]) -> EvalDataset:
    """A split of the 12 test documents: query id -> (text, relevant document id)."""
    return EvalDataset(name=name, corpus_source=source, corpus_key=f"file:{source}",
                       topics=tuple(Topic(qid, text) for qid, (text, _) in queries.items()),
                       qrels={qid: {doc: 1} for qid, (_, doc) in queries.items()}, is_beir=False)


def test_fused_evaluation_tunes_alpha_on_another_split(retrievers, dense_index):
    source = str(dense_index.parent / "docs.jsonl")
    dev = toy_split("toy/dev", source, {"q1": ("sunlight and strong bones", "d0"),
                                        "q2": ("why does the air get turbulent over a plate", "d4")})
    test = toy_split("toy/test", source, {"q3": ("pills for cholesterol", "d1"), "q4": ("nap and learning", "d5")})
    result = evaluate_fused(test, indexes=[dense_index], mode="hybrid", fusion=Fusion("convex"), tune_on=dev,
                            depth=10, progress=False)
    tuning = result.query["tuning"]
    assert tuning["split"] == "toy/dev" and [alpha for alpha, _ in tuning["values"]] == list(ALPHA_GRID)
    best = max(value for _, value in tuning["values"])
    assert tuning["best_alpha"] == next(alpha for alpha, value in tuning["values"] if value == best)
    assert result.query["fusion"]["weights"] == pytest.approx([1 - tuning["best_alpha"], tuning["best_alpha"]])
    assert result.encoder["kind"] == "fused" and result.encoder["name"] == "convex(bm25 + minilm)"
    assert result.efficiency.latency_ms_p50 > 0 and result.efficiency.mean_postings_touched is None
    assert set(result.run) == {"q3", "q4"} and 0 <= result.measures["nDCG@10"] <= 1
    with pytest.raises(LexirError, match="the split being evaluated"):
        evaluate_fused(dev, indexes=[dense_index], mode="hybrid", tune_on=dev, progress=False)
    with pytest.raises(LexirError, match="refusing to tune on toy/test"):
        evaluate_fused(dev, indexes=[dense_index], mode="hybrid", tune_on=test, progress=False)
    with pytest.raises(LexirError, match="between two retrievers"):
        evaluate_fused(test, indexes=[dense_index], mode="dense", tune_on=dev, progress=False)
    with pytest.raises(LexirError, match="either fusion weights or a split"):
        evaluate_fused(test, indexes=[dense_index], mode="hybrid", fusion=Fusion(weights=(1, 1)), tune_on=dev)


def invoke(app, *args: str):
    return CliRunner().invoke(app, list(args))


def invoke_error(app, *args: str) -> str:
    outcome = invoke(app, *args)
    assert isinstance(outcome.exception, LexirError), (outcome.exception, outcome.output)
    message = str(outcome.exception)
    assert "\n" not in message
    return message


def test_cli_hybrid_search_and_bad_inputs(tmp_path, dense_index):
    hybrid = invoke(cli_app, "search", str(dense_index), QUERY, "--mode", "hybrid", "--fuse", "convex",
                    "--weights", "0.5,0.5", "-k", "3", "--json", "--explain")
    assert hybrid.exit_code == 0, hybrid.output
    hits = json.loads(hybrid.stdout)["hits"]
    assert len(hits) == 3 and set(hits[0]["contributions"]) == {"sparse", "dense"}
    assert "bad dense index option" in invoke_error(cli_app, "index", "add-dense", str(dense_index),
                                                    "--dense-index", "hnsw:ef=3")
    assert "--dense-index needs --dense" in invoke_error(cli_app, "index", "build", "x.jsonl", "--out",
                                                         str(tmp_path / "i"), "--dense-index", "flat")
    sparse_only = tmp_path / "sparse-only"
    shutil.copytree(dense_index, sparse_only, ignore=shutil.ignore_patterns(DENSE_DIR))
    assert "has no dense side" in invoke_error(cli_app, "search", str(sparse_only), QUERY, "--mode", "hybrid")
    assert "give --index DIR" in invoke_error(eval_app, "cranfield", "--mode", "hybrid", "--encoder", "bm25")
    assert "unknown search mode" in invoke_error(eval_app, "cranfield", "--mode", "bm25", "--index", "x")


def test_cli_prints_one_line_errors():
    result = subprocess.run([sys.executable, "-m", "lexir", "search", "no-index", "q", "--mode", "semantic"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: unknown search mode 'semantic'")
    assert result.stderr.strip().count("\n") == 0


def test_sparse_search_never_imports_faiss_or_torch(dense_index):
    script = ("import sys, lexir.cli, lexir.eval.cli; from lexir.search import Searcher; "
              f"Searcher({str(dense_index)!r}).search('heat transfer'); "
              "print(sorted(name for name in ('faiss', 'torch', 'transformers') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_several_indexes_are_fused_by_document_id(tmp_path, dense_index):
    copy = tmp_path / "copy"
    shutil.copytree(dense_index, copy, ignore=shutil.ignore_patterns(DENSE_DIR))
    retrievers = open_retrievers([dense_index, copy], "sparse")
    assert list(retrievers) == [f"{dense_index}:sparse", f"{copy}:sparse"]
    alone = HybridSearcher({"one": retrievers[f"{dense_index}:sparse"]}).search_one("heat transfer", 5)
    fused = HybridSearcher(retrievers, Fusion("rrf")).search_one("heat transfer", 5)
    assert fused.keys.tolist() == alone.keys.tolist()  # the same list twice: the same order
    assert fused.scores.tolist() == pytest.approx([2 / (61 + rank) for rank in range(len(alone.keys))])
