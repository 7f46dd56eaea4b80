"""Bad input to `lexir eval` is a LexirError with a message, never a traceback; datasets load as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lexir.errors import LexirError
from lexir.eval import evaluate, load_dataset, parse_measures
from lexir.eval.cli import eval_app
from lexir.eval.measures import split_measure_names


@pytest.fixture
def beir_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two documents, four queries (one unjudged), graded test qrels."""
    monkeypatch.setenv("LEXIR_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "zebra"}\n'
                                         '{"_id": "d2", "title": "Giraffe", "text": "tall"}\n', encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(f'{{"_id": "q{n}", "text": "zebra"}}\n' for n in range(1, 5)),
                                          encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t0\nq1\td2\t2\n"
                                               "q2\td2\t1\nq3\td1\t1\n", encoding="utf-8")
    return folder


def invoke_error(args: list[str]) -> LexirError:
    outcome = CliRunner().invoke(eval_app, args)
    assert isinstance(outcome.exception, LexirError), (outcome.exception, outcome.output)
    return outcome.exception


def test_beir_folder_loads_judged_topics_and_graded_qrels(beir_folder: Path) -> None:
    dataset = load_dataset(str(beir_folder))
    assert [topic.query_id for topic in dataset.topics] == ["q1", "q2", "q3"]
    assert dataset.unjudged_topics == 1
    assert dataset.qrels["q1"] == {"d1": 0, "d2": 2}
    assert dataset.is_beir and dataset.slug == "tiny"


def test_measure_names() -> None:
    assert split_measure_names(["nDCG@10,P(rel=2)@5", " RR@10 "]) == ["nDCG@10", "P(rel=2)@5", "RR@10"]
    assert [str(m) for m in parse_measures(["MRR@10", "nDCG@10", "RR@10"])] == ["RR@10", "nDCG@10"]


@pytest.mark.parametrize("name", ["foo@10", "nDCG@x", "nDCG@10@", "nDCG(", ""])
def test_bad_measure(beir_folder: Path, name: str) -> None:
    with pytest.raises(LexirError, match="measure"):
        parse_measures([name])
    assert "measure" in str(invoke_error([str(beir_folder), "-e", "bm25", "-m", name, "--no-progress"]))


def test_unknown_dataset() -> None:
    assert "neither a folder nor an ir_datasets id" in str(invoke_error(["no/such/dataset", "-e", "bm25"]))


def test_ir_dataset_without_qrels_names_the_splits() -> None:
    message = str(invoke_error(["beir/nfcorpus", "-e", "bm25"]))
    assert "qrels" in message and "beir/nfcorpus/test" in message
    assert "no split 'nope'" in str(invoke_error(["beir/nfcorpus", "--split", "nope"]))


def test_beir_folder_problems(beir_folder: Path, tmp_path: Path) -> None:
    assert "qrels/<split>.tsv" in str(invoke_error([str(beir_folder), "--split", "train", "-e", "bm25"]))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "corpus.jsonl" in str(invoke_error([str(empty), "-e", "bm25"]))
    (beir_folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tvery\n",
                                                       encoding="utf-8")
    with pytest.raises(LexirError, match="not a number"):
        load_dataset(str(beir_folder))
    (beir_folder / "qrels" / "test.tsv").write_text("q1\td1\t1.5\n", encoding="utf-8")
    with pytest.raises(LexirError, match="whole number"):
        load_dataset(str(beir_folder))
    (beir_folder / "qrels" / "test.tsv").write_text("zz\td1\t1\n", encoding="utf-8")
    with pytest.raises(LexirError, match="none of the 4 queries"):
        load_dataset(str(beir_folder))
    (beir_folder / "queries.jsonl").write_text("not json\n", encoding="utf-8")
    with pytest.raises(LexirError, match="queries.jsonl:1"):
        load_dataset(str(beir_folder))


def test_bad_index_and_options(beir_folder: Path, tmp_path: Path) -> None:
    assert "does not exist" in str(invoke_error([str(beir_folder), "--index", str(tmp_path / "none")]))
    assert "not both" in str(invoke_error([str(beir_folder), "-e", "bm25", "--index", str(tmp_path)]))
    with pytest.raises(LexirError, match="depth"):
        evaluate(load_dataset(str(beir_folder)), encoder="bm25", depth=0, progress=False)
