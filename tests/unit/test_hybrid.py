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
from lexir.eval import evaluate
from lexir.eval.cli import eval_app
from lexir.eval.datasets import EvalDataset, Topic
from lexir.eval.tuning import ALPHA_GRID
from lexir.index.dense import DENSE_DIR
from lexir.search import SearchOptions, open_search
from lexir.search.dense import DenseRetriever
from lexir.search.fusion import Fusion, fuse
from lexir.search.sparse import SparseRetriever

QUERY = "does vitamin d prevent fractures"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


CONVEX = SearchOptions(mode="hybrid", fusion=Fusion("convex", weights=(0.3, 0.7)))


@pytest.fixture(scope="module")
def hybrid(dense_index, minilm):
    return open_search(dense_index, CONVEX, dense_encoder=minilm)


def test_hybrid_fuses_each_sides_own_lists(hybrid):
    lists = hybrid.lists_one(QUERY, 5)
    sparse, dense = hybrid.retrievers["sparse"], hybrid.retrievers["dense"]
    assert lists[0].nums.tolist() == sparse.rank_one(sparse.encode([QUERY]), 100, CONVEX).nums.tolist()
    assert lists[1].nums.tolist() == dense.rank_one(dense.encode([QUERY]), 100, CONVEX).nums.tolist()
    result = hybrid.search(QUERY, k=5, explain=True, with_text=True)
    expected = fuse(lists, Fusion("convex", weights=(0.3, 0.7)), 5)
    assert [hit.id for hit in result.hits] == expected.keys.tolist()
    assert result.hits[0].id in {"d0", "d8"} and result.hits[0].title
    for hit in result.hits:
        assert sum(hit.contributions.values()) == pytest.approx(hit.score)
    batched = hybrid.rank([QUERY, "boundary layer transition"], k=5)
    assert batched[0].keys.tolist() == expected.keys.tolist()
    assert [hit.id for hit in hybrid.search_batch([QUERY], k=5)[0].hits] == expected.keys.tolist()


def test_one_retriever_keeps_its_own_scores(hybrid, dense_index, minilm):
    dense = open_search(dense_index, SearchOptions(mode="dense"), dense_encoder=minilm)
    ranked = dense.retrievers["dense"].rank_one(dense.retrievers["dense"].encode([QUERY]), 3, dense.options)
    assert dense.rank_one(QUERY, 3).scores.tolist() == pytest.approx(ranked.scores.tolist())
    assert [hit.score for hit in dense.search(QUERY, 3).hits] == pytest.approx(ranked.scores.tolist())
    with pytest.raises(LexirError, match="two or more retrievers"):
        open_search(dense_index, SearchOptions(mode="dense", fusion=Fusion()))
    with pytest.raises(LexirError, match="1 fusion weights were given for 2"):
        hybrid.using(SearchOptions(mode="hybrid", fusion=Fusion(weights=(1.0,))))
    for bad_k in (0, -3):
        with pytest.raises(LexirError, match="positive number of hits"):
            hybrid.rank_one(QUERY, bad_k)
    with pytest.raises(LexirError, match="query is empty"):
        hybrid.rank_one("  ", 3)


def test_modes(dense_index):
    assert list(open_search(dense_index, SearchOptions(mode="hybrid")).retrievers) == ["sparse", "dense"]
    assert [type(r) for r in open_search(dense_index).retrievers.values()] == [SparseRetriever]
    assert [type(r) for r in open_search(dense_index, SearchOptions(mode="dense")).retrievers.values()] == [
        DenseRetriever]
    with pytest.raises(LexirError, match="unknown search mode 'semantic'"):
        SearchOptions(mode="semantic")
    with pytest.raises(LexirError, match="given twice"):
        open_search([dense_index, dense_index])
    with pytest.raises(LexirError, match="--algorithm apply to sparse search"):
        SearchOptions(mode="dense", algorithm="maxscore")


def toy_split(name: str, source: str, queries: dict[str, tuple[str, str]]) -> EvalDataset:
    """A split of the 12 test documents: query id -> (text, relevant document id)."""
    return EvalDataset(name=name, corpus_source=source, corpus_key=f"file:{source}",
                       topics=tuple(Topic(qid, text) for qid, (text, _) in queries.items()),
                       qrels={qid: {doc: 1} for qid, (_, doc) in queries.items()}, is_beir=False)


def test_fused_evaluation_tunes_alpha_on_another_split(dense_index):
    source = str(dense_index.parent / "docs.jsonl")
    dev = toy_split("toy/dev", source, {"q1": ("sunlight and strong bones", "d0"),
                                        "q2": ("why does the air get turbulent over a plate", "d4")})
    test = toy_split("toy/test", source, {"q3": ("pills for cholesterol", "d1"), "q4": ("nap and learning", "d5")})
    result = evaluate(test, index=[dense_index], options=SearchOptions(mode="hybrid", fusion=Fusion("convex")),
                      tune_on=dev, depth=10, progress=False)
    tuning = result.query["tuning"]
    assert tuning["split"] == "toy/dev" and [alpha for alpha, _ in tuning["values"]] == list(ALPHA_GRID)
    best = max(value for _, value in tuning["values"])
    assert tuning["best_alpha"] == next(alpha for alpha, value in tuning["values"] if value == best)
    assert result.query["fusion"]["weights"] == pytest.approx([1 - tuning["best_alpha"], tuning["best_alpha"]])
    assert result.encoder["kind"] == "fused" and result.encoder["name"] == "convex(bm25 + minilm)"
    assert result.efficiency.latency_ms_p50 > 0 and result.efficiency.mean_postings_touched is None
    assert set(result.run) == {"q3", "q4"} and 0 <= result.measures["nDCG@10"] <= 1
    hybrid = SearchOptions(mode="hybrid")
    with pytest.raises(LexirError, match="the split being evaluated"):
        evaluate(dev, index=[dense_index], options=hybrid, tune_on=dev, progress=False)
    with pytest.raises(LexirError, match="refusing to tune on toy/test"):
        evaluate(dev, index=[dense_index], options=hybrid, tune_on=test, progress=False)
    with pytest.raises(LexirError, match="weights of fused retrievers, this run has 1"):
        evaluate(test, index=[dense_index], options=SearchOptions(mode="dense"), tune_on=dev, progress=False)
    with pytest.raises(LexirError, match="either fusion weights or a split"):
        evaluate(test, index=[dense_index], options=hybrid.replace(fusion=Fusion(weights=(1, 1))), tune_on=dev)


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
    script = ("import sys, lexir.cli, lexir.eval.cli; from lexir.search import open_search; "
              f"open_search({str(dense_index)!r}).search('heat transfer'); "
              "print(sorted(name for name in ('faiss', 'torch', 'transformers') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_several_indexes_are_fused_by_document_id(tmp_path, dense_index):
    copy = tmp_path / "copy"
    shutil.copytree(dense_index, copy, ignore=shutil.ignore_patterns(DENSE_DIR))
    both = open_search([dense_index, copy], SearchOptions(fusion=Fusion("rrf")))
    assert list(both.retrievers) == [f"{dense_index}:sparse", f"{copy}:sparse"]
    alone = open_search(dense_index).rank_one("heat transfer", 5)
    fused = both.rank_one("heat transfer", 5)
    assert fused.keys.tolist() == alone.keys.tolist()  # the same list twice: the same order
    assert fused.scores.tolist() == pytest.approx([2 / (61 + rank) for rank in range(len(alone.keys))])
