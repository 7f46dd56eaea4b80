"""The one front door into search: every face (Python, CLI, API, eval, run files) gives the same results for the
same options, in every mode, over live segments and tombstones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lexir.api.app import create_app
from lexir.cli import app as cli_app
from lexir.corpus import Document
from lexir.errors import LexirError
from lexir.eval.cli import eval_app
from lexir.index.live import LiveIndex
from lexir.search import SearchOptions, open_search
from tests.texts import DOCUMENTS, QUERIES

pytestmark = pytest.mark.usefixtures("one_torch_thread")
QUERY = "does vitamin d prevent fractures"
MODES = ("sparse", "dense", "hybrid")
NEW = Document("n1", "Vitamin D and fractures in winter", "Winter sunlight is too weak for vitamin D; fractures "
               "in older adults rise when vitamin D levels fall.")


@pytest.fixture
def live_copy(dense_index: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(dense_index, copy)
    return copy


def cli_hits(*args: str) -> list[tuple[str, float]]:
    outcome = CliRunner().invoke(cli_app, ["search", *args, "--json"])
    assert outcome.exit_code == 0, (outcome.output, outcome.exception)
    return [(hit["id"], hit["score"]) for hit in json.loads(outcome.stdout)["hits"]]


def cli_error(*args: str) -> str:
    outcome = CliRunner().invoke(cli_app, ["search", *args])
    assert isinstance(outcome.exception, LexirError), (outcome.exception, outcome.output)
    return str(outcome.exception)


@pytest.mark.parametrize("mode", MODES)
def test_deleted_documents_are_never_returned(live_copy: Path, mode: str):
    """Bug: dense and hybrid search through the CLI and Python returned tombstoned documents."""
    before = [doc_id for doc_id, _ in cli_hits(str(live_copy), QUERY, "--mode", mode, "-k", "12")]
    assert "d0" in before
    LiveIndex(live_copy).delete(["d0"])
    after = cli_hits(str(live_copy), QUERY, "--mode", mode, "-k", "12")
    assert "d0" not in [doc_id for doc_id, _ in after]
    assert [doc_id for doc_id, _ in after] == [doc_id for doc_id in before if doc_id != "d0"][:len(after)]
    python = open_search(live_copy, SearchOptions(mode=mode)).search(QUERY, k=12)
    assert [(hit.id, hit.score) for hit in python.hits] == after


@pytest.mark.parametrize("mode", MODES)
def test_added_documents_are_found_in_every_mode(live_copy: Path, mode: str):
    LiveIndex(live_copy).add([NEW])
    hits = cli_hits(str(live_copy), "vitamin d fractures in winter", "--mode", mode, "-k", "3")
    assert hits[0][0] == "n1"


def test_hybrid_search_honours_the_sparse_options(dense_index: Path):
    """Bug: --mode hybrid ignored --algorithm, --heap-factor and --query-cut; --mode dense ignored them silently."""
    cut = SearchOptions(query_cut=1)
    hybrid = open_search(dense_index, SearchOptions(mode="hybrid", query_cut=1))
    sparse_list = hybrid.lists_one("coffee blood pressure", 5)[0]
    alone = open_search(dense_index, cut).rank_one("coffee blood pressure", 100)
    assert sparse_list.keys.tolist() == alone.keys.tolist() == ["d6"]  # coffee: the term of largest bound
    assert open_search(dense_index).rank_one("coffee blood pressure", 100).keys.tolist() == ["d6", "d9", "d7", "d1"]
    for flag, value in (("--algorithm", "maxscore"), ("--heap-factor", "0.5"), ("--query-cut", "2"),
                        ("--query-weighting", "idf")):
        assert f"{flag} apply to sparse search" in cli_error(str(dense_index), QUERY, "--mode", "dense", flag, value)


@pytest.mark.parametrize("mode", MODES)
def test_python_cli_and_api_agree(live_copy: Path, mode: str):
    LiveIndex(live_copy).add([NEW])
    LiveIndex(live_copy).delete(["d8"])
    options = ["--mode", mode] + (["--fuse", "convex", "--weights", "0.3,0.7"] if mode == "hybrid" else [])
    cli = cli_hits(str(live_copy), QUERY, "-k", "5", *options)
    fusion = {"fuse": "convex", "weights": [0.3, 0.7]} if mode == "hybrid" else {}
    python = open_search(live_copy, SearchOptions(mode=mode, fusion=None if mode != "hybrid" else
                                                  _convex())).search(QUERY, k=5)
    with TestClient(create_app(live_copy)) as client:
        api = client.post("/search", json={"q": QUERY, "k": 5, "mode": mode, **fusion}).json()
    assert [(hit.id, hit.score) for hit in python.hits] == cli
    assert [(hit["id"], hit["score"]) for hit in api["hits"]] == cli
    assert "d8" not in [doc_id for doc_id, _ in cli]


def _convex():
    from lexir.search.fusion import Fusion

    return Fusion("convex", (0.3, 0.7))


def write_beir_folder(folder: Path) -> Path:
    folder.mkdir()
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for doc_id, title, text in DOCUMENTS:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for number, text in enumerate(QUERIES):
            handle.write(json.dumps({"_id": f"q{number}", "text": text}) + "\n")
    (folder / "qrels").mkdir()
    judged = ["d8", "d1", "d3", "d4", "d6", "d5"]
    (folder / "qrels" / "test.tsv").write_text("".join(f"q{n}\t{doc}\t1\n" for n, doc in enumerate(judged)))
    return folder


@pytest.mark.parametrize("options", [["--mode", "sparse", "--algorithm", "maxscore"],
                                     ["--mode", "dense"],
                                     ["--mode", "hybrid", "--fuse", "convex", "--normalization", "zscore"]])
def test_a_topics_run_equals_the_eval_run(dense_index: Path, tmp_path: Path, options: list[str]):
    folder = write_beir_folder(tmp_path / "beir")
    evaluated = CliRunner().invoke(eval_app, [str(folder), "--index", str(dense_index), "--no-progress",
                                              "--out", str(tmp_path / "eval"), *options])
    assert evaluated.exit_code == 0, (evaluated.output, evaluated.exception)
    searched = CliRunner().invoke(cli_app, ["search", str(dense_index), "--topics", str(folder / "queries.jsonl"),
                                            "--out", str(tmp_path / "run.trec"), "-k", "1000", "--quiet", *options])
    assert searched.exit_code == 0, (searched.output, searched.exception)
    eval_run = (tmp_path / "eval" / "run.trec").read_text()
    assert eval_run and (tmp_path / "run.trec").read_text() == eval_run
    recorded = json.loads((tmp_path / "eval" / "result.json").read_text())["query"]
    assert recorded["mode"] == options[1] and recorded["algorithm"] == (options[3] if options[2:3] == [
        "--algorithm"] else "auto")


def test_eval_takes_every_search_option(tmp_path: Path, dense_index: Path):
    """Bug: `lexir eval` had no --algorithm; now every search option is declared once for both commands."""
    folder = write_beir_folder(tmp_path / "beir")
    runs = {}
    for algorithm in ("exhaustive", "maxscore", "block_max_maxscore"):
        out = tmp_path / algorithm
        outcome = CliRunner().invoke(eval_app, [str(folder), "--index", str(dense_index), "--no-progress",
                                                "--algorithm", algorithm, "--out", str(out)])
        assert outcome.exit_code == 0, (outcome.output, outcome.exception)
        runs[algorithm] = (out / "run.trec").read_text()
    assert runs["exhaustive"] == runs["maxscore"] == runs["block_max_maxscore"]
    eval_help = CliRunner().invoke(eval_app, ["run", "--help"]).output
    search_help = CliRunner().invoke(cli_app, ["search", "--help"]).output
    for flag in ("--mode", "--algorithm", "--heap-factor", "--query-cut", "--query-weighting", "--query-option",
                 "--fuse", "--weights", "--normalization", "--rrf-k", "--fusion-depth"):
        assert flag in eval_help and flag in search_help, flag


def test_search_topics_errors_and_tsv_topics(dense_index: Path, tmp_path: Path):
    assert "--out" in cli_error(str(dense_index), "--topics", "beir/nfcorpus/test")
    assert "not both" in cli_error(str(dense_index), "q", "--topics", "x.tsv", "--out", str(tmp_path / "r"))
    assert "give a query" in cli_error(str(dense_index))
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"t{n}\t{text}\n" for n, text in enumerate(QUERIES)))
    outcome = CliRunner().invoke(cli_app, ["search", str(dense_index), "--topics", str(topics), "--out",
                                           str(tmp_path / "run.trec"), "-k", "3", "--threads", "1", "--quiet"])
    assert outcome.exit_code == 0, (outcome.output, outcome.exception)
    lines = [line.split() for line in (tmp_path / "run.trec").read_text().splitlines()]
    for number, query in enumerate(QUERIES):
        expected = cli_hits(str(dense_index), query, "-k", "3")
        got = [(line[2], float(line[4])) for line in lines if line[0] == f"t{number}"]
        assert [doc_id for doc_id, _ in got] == [doc_id for doc_id, _ in expected]
        assert [score for _, score in got] == pytest.approx([score for _, score in expected], rel=1e-6)
    (tmp_path / "bad.tsv").write_text("no tab here\n")
    assert "bad.tsv:1" in cli_error(str(dense_index), "--topics", str(tmp_path / "bad.tsv"), "--out",
                                    str(tmp_path / "r"))


def test_merged_segments_keep_their_dense_vectors(live_copy: Path, minilm):
    live = LiveIndex(live_copy, dense_encoder=minilm)
    extra = [Document(f"n{i}", "", text) for i, text in enumerate(
        ["Winter sunlight and vitamin D", "Wing flutter at transonic speed", "Green tea and sleep quality"])]
    for document in extra:
        live.add([document])
    live.delete(["n1"])
    searcher = open_search(live_copy, SearchOptions(mode="dense"), dense_encoder=minilm)
    before = [[(hit.id, hit.score) for hit in searcher.search(document.text, k=3).hits] for document in extra]
    assert [hits[0][0] for hits in before] == ["n0", "d3", "n2"]
    assert len(live.snapshot().commit.segments) == 3
    live.merge()
    assert len(live.snapshot().commit.segments) == 1
    after = [[(hit.id, hit.score) for hit in searcher.search(document.text, k=3).hits] for document in extra]
    assert after == before  # vectors copied, not encoded again: the same scores to the bit


def test_a_segment_added_before_the_dense_side_is_encoded_when_merged(tmp_path: Path, minilm):
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index
    from lexir.index.dense_builder import add_dense
    from tests.helpers import write_jsonl

    index = tmp_path / "index"
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), index, progress=False)
    LiveIndex(index).add([NEW])
    add_dense(index, minilm, progress=False)  # the base only: the segment holding n1 has no dense side
    dense = SearchOptions(mode="dense")
    assert "n1" not in [hit.id for hit in open_search(index, dense, dense_encoder=minilm).search(NEW.text, k=12).hits]
    LiveIndex(index, dense_encoder=minilm).merge()
    assert open_search(index, dense, dense_encoder=minilm).search(NEW.text, k=1).hits[0].id == "n1"
