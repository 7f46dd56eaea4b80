"""`lexir train` from the command line, with labelled (`--supervised`) data, and what its options change.

Runs are tiny (2 steps of 2 queries x 3 documents, 48-token documents) and share one prepared data cache, so
every run starts from the same student, the same batches and the same teacher scores: an option's effect is
read off the first logged step, against the run without it. What is compared is the run folder a user gets
(options.json, log.jsonl, model/idf.json) and the model evaluated with `lexir eval --encoder RUN/model`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import lexir, write_beir_folder
from tests.texts import DOCUMENTS
from tests.unit.test_train import corpus_documents

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN_QUERIES = {f"t{i}": (text, {doc_id: 1}) for i, (text, doc_id) in enumerate([
    ("vitamin d and blood pressure", "vitamin-0"), ("exercise for the heart", "heart-0"),
    ("how much sleep do adults need", "sleep-0"), ("caffeine in coffee", "coffee-0"),
    ("sugar in soft drinks", "sugar-0"), ("wing stall and separation", "wing-0"),
    ("shock waves in a nozzle", "nozzle-0"), ("whole grain bread and blood sugar", "bread-0"),
    ("salt and blood pressure", "salt-0"), ("vibration of bridge spans", "bridge-0"),
    ("boundary layer heat transfer", "d4"), ("statins after a heart attack", "d1")])}
SMALL = ("--group-size", "3", "--batch-size", "2", "--steps", "2", "--save-every", "2", "--max-doc-length", "48",
         "--learning-rate", "1e-4", "--flops-warmup-steps", "2", "--candidates", "6", "--threads", "1", "--quiet")
IDF_FILE = {"vitamin": 3.0, "heart": 2.5, "sleep": 2.0, "coffee": 2.0, "sugar": 1.5, "wing": 2.0, "blood": 1.0,
            "pressure": 1.0, "salt": 2.0, "bridge": 2.0}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A BEIR folder with a train split: the training topics' documents and the 12 test documents."""
    return write_beir_folder(tmp_path_factory.mktemp("train-cli") / "beir", {"train": TRAIN_QUERIES},
                             [*corpus_documents(), *DOCUMENTS])


@pytest.fixture(scope="module")
def runs(folder, splade_tiny, minilm):
    """name -> run folder; every run takes the same data options (one preparation, cached)."""
    idf_file = folder.parent / "idf.json"
    idf_file.write_text(json.dumps(IDF_FILE))
    variants = {"default": [], "bm25-teacher": ["--teacher", "sparse", "--teacher", "dense", "--teacher", "bm25"],
                "contrastive": ["--contrastive-weight", "0.5"], "idf-file": ["--idf", str(idf_file)],
                "z-score": ["--normalization", "z-score"]}
    made = {}
    for name, options in variants.items():
        made[name] = folder.parent / "runs" / name
        trained = lexir("train", made[name], "--supervised", folder, *SMALL, *options, "--cache",
                        folder.parent / "cache")
        assert "trained 2 steps" in trained.stderr and f"{made[name] / 'model'}" in "".join(trained.stderr.split())
    return made


def log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_supervised_data_trains_a_model_that_lexir_evaluates(runs, folder, tmp_path, monkeypatch):
    record = json.loads((runs["default"] / "options.json").read_text())
    assert record["data"]["supervised"] == [str(folder)] and record["data"]["ict_corpora"] == []
    assert record["train"]["teachers"] == ["sparse", "dense"]
    summary = json.loads((Path(record["data_folder"]) / "data.json").read_text())
    assert summary["lists_by_source"] == {"supervised": summary["lists"]} and summary["lists"] >= 8
    entries = log(runs["default"])
    assert [entry["step"] for entry in entries] == [1, 2] and "contrastive" not in entries[0]
    exported = json.loads((runs["default"] / "model" / "idf.json").read_text())
    data_idf = json.loads((Path(record["data_folder"]) / "idf.json").read_text())
    assert exported == pytest.approx({token: value for token, value in data_idf.items() if value > 0}, rel=1e-6)
    monkeypatch.setenv("LEXIR_CACHE", str(tmp_path / "cache"))
    lexir("eval", folder, "--split", "train", "--encoder", runs["default"] / "model", "--no-progress",
          "--out", tmp_path / "eval")
    result = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert result["encoder"]["kind"] == "inference-free"
    assert result["query"]["idf_source"] == str(runs["default"] / "model" / "idf.json")
    assert result["measures"]["nDCG@10"] > 0.5  # each query names its document's topic


def test_teacher_bm25_changes_the_target_not_the_student(runs):
    default, bm25 = log(runs["default"])[0], log(runs["bm25-teacher"])[0]
    assert json.loads((runs["bm25-teacher"] / "options.json").read_text())["train"]["teachers"] == [
        "sparse", "dense", "bm25"]
    assert bm25["flops"] == default["flops"]  # the same batch through the same student
    assert bm25["distillation"] != pytest.approx(default["distillation"], rel=1e-4)


def test_z_score_normalization_changes_the_target(runs):
    default, zscore = log(runs["default"])[0], log(runs["z-score"])[0]
    assert json.loads((runs["z-score"] / "options.json").read_text())["train"]["normalization"] == "z-score"
    assert zscore["flops"] == default["flops"]
    assert zscore["distillation"] != pytest.approx(default["distillation"], rel=1e-4)


def test_contrastive_weight_adds_infonce_to_the_loss(runs):
    default = log(runs["default"])
    for entry in log(runs["contrastive"]):
        assert entry["contrastive"] > 0
        expected = entry["distillation"] + entry["flops_weight"] * entry["flops"] + 0.5 * entry["contrastive"]
        assert entry["total"] == pytest.approx(expected, rel=1e-5)
    first = log(runs["contrastive"])[0]
    assert first["distillation"] == default[0]["distillation"]  # step 1: the same student, the same target
    assert first["total"] > default[0]["total"]


def test_idf_file_is_the_query_idf_the_model_ships(runs):
    assert json.loads((runs["idf-file"] / "model" / "idf.json").read_text()) == IDF_FILE
    default, from_file = log(runs["default"])[0], log(runs["idf-file"])[0]
    assert from_file["flops"] == default["flops"]  # IDF-aware FLOPS penalises document weights only
    assert from_file["distillation"] != pytest.approx(default["distillation"], rel=1e-4)
