"""`lexir train` end to end on a small corpus the test writes: real teachers (splade-tiny, MiniLM), a real student.

Small settings (a few steps, short documents) keep it fast; what is checked is the machinery: the candidate
lists, the seeded and resumable loop, the log and plot, and a model folder that lexir loads and searches with
as an inference-free encoder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lexir.errors import LexirError
from tests.helpers import write_jsonl

TOPICS = [  # every sentence names its topic, so the rest of a passage still matches a sentence cut from it
    ("vitamin", "Vitamin D lowers blood pressure in older adults.", "Sunlight makes the skin produce vitamin D.",
     "Fish and eggs contain small amounts of vitamin D.", "Vitamin D deficiency is common in northern winters."),
    ("heart", "Regular exercise strengthens the heart muscle.", "Walking thirty minutes a day helps the heart.",
     "Resting heart rate falls with endurance training.", "Cardiologists say moderate activity protects the heart."),
    ("sleep", "Poor sleep raises the risk of obesity.", "Adults need seven hours of sleep each night.",
     "Screens before bed delay sleep and melatonin release.", "Naps cannot fully repay lost sleep."),
    ("coffee", "Coffee drinkers show lower liver enzyme levels.", "The caffeine in coffee blocks adenosine receptors.",
     "Decaffeinated coffee keeps the polyphenols.", "Too much coffee can cause palpitations."),
    ("sugar", "Added sugar is linked to tooth decay.", "Soft drinks are the largest source of sugar for children.",
     "Fruit juice counts as free sugar too.", "Labels list sugar under many different names."),
    ("wing", "The wing boundary layer separates at high angles.", "Vortex generators on the wing delay separation.",
     "Wind tunnel tests measured the wing lift curve.", "Stall begins near the trailing edge of the wing."),
    ("nozzle", "Supersonic flow accelerates through the nozzle throat.", "Shock waves form in the diverging nozzle.",
     "Pressure ratios across the nozzle set the exit Mach number.", "Engineers measured the nozzle wall temperature."),
    ("bread", "Whole grain bread keeps blood sugar steadier.", "The fibre in bread slows the digestion of starch.",
     "Sourdough bread fermentation lowers the glycemic index.", "White bread flour loses most of the bran."),
    ("salt", "High salt intake raises blood pressure.", "Processed foods supply most dietary salt.",
     "Potassium rich vegetables offset part of the salt effect.", "Guidelines advise under five grams of salt a day."),
    ("bridge", "The suspension bridge cables carry the deck load.", "Wind induced oscillation can damage a bridge.",
     "Dampers reduce the vibration of long bridge spans.", "Inspectors check the bridge anchorages every year."),
]


def corpus_documents() -> list[tuple[str, str, str]]:
    """One document of several sentences per topic (enough for ICT), no sentence shared between documents."""
    return [(f"{topic}-0", f"{topic} note", " ".join(sentences)) for topic, *sentences in TOPICS]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, splade_tiny, minilm, one_torch_thread):
    from lexir.train.prepare import DataOptions, prepare_data

    folder = tmp_path_factory.mktemp("train")
    source = write_jsonl(folder / "docs.jsonl", corpus_documents())
    options = DataOptions(supervised=(), ict_corpora=(str(source),), ict_pairs=10, ict_pool_docs=None,
                          candidates=6, min_negatives=3)
    return options, prepare_data(options, folder / "cache", progress=False)


def small_options(**changes):
    from lexir.train.options import TrainOptions

    base = TrainOptions(group_size=3, batch_size=2, steps=4, save_every=2, max_doc_length=48, warmup_steps=1,
                        flops_warmup_steps=2, learning_rate=1e-4)
    return replace(base, **changes)


def test_lists_put_positives_first_and_carry_both_teachers(prepared):
    options, data = prepared
    assert len(data.lists) == 10 and data.summary["lists_by_source"] == {"ict": 10}
    for item in data.lists:
        assert item.num_positives == 1 and item.keys[0].startswith("ict::")
        source_doc = item.keys[0].split(":", 3)[-1]
        assert source_doc not in item.keys  # the passage the query was cut from is never a negative
        assert len(item.keys) - 1 >= options.min_negatives
        assert set(item.teacher_scores) == {"sparse", "dense", "bm25"}
        assert all(len(scores) == len(item.keys) for scores in item.teacher_scores.values())
        assert item.query not in data.texts[item.keys[0]]  # the query sentence was removed from its positive
    # both teachers score an ICT positive (the rest of its passage) above the average candidate
    for teacher in ("sparse", "dense", "bm25"):
        above = [item.teacher_scores[teacher][0] > sum(item.teacher_scores[teacher]) / len(item.keys)
                 for item in data.lists]
        assert sum(above) >= 9, teacher


def test_prepared_data_is_cached_by_its_options(prepared, monkeypatch):
    from lexir.train import prepare

    options, data = prepared
    monkeypatch.setattr(prepare, "_build", lambda *args: pytest.fail("rebuilt cached data"))
    again = prepare.prepare_data(options, data.folder.parents[1], progress=False)
    assert again.folder == data.folder and len(again.lists) == len(data.lists)


def test_data_idf_covers_the_vocabulary_and_ranks_rare_tokens_higher(prepared):
    _, data = prepared
    table = json.loads(data.idf_path.read_text())
    assert "[CLS]" not in table and len(table) > 30000
    assert table["vortex"] > table["the"] > 0


def test_training_writes_log_plot_checkpoints_and_a_loadable_model(prepared, tmp_path):
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.encoders.inference_free import InferenceFreeEncoder
    from lexir.index import build_index
    from lexir.search import open_search
    from lexir.train.trainer import train

    _, data = prepared
    report = train(small_options(), data, tmp_path / "run", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4]
    assert log[0]["flops_weight"] < log[-1]["flops_weight"] == small_options().flops_weight
    assert (tmp_path / "run" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(path.name for path in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step-000002.pt", "step-000004.pt"]
    assert report.mean_doc_nonzeros > 0

    encoder = create_encoder(str(report.model))
    assert isinstance(encoder, InferenceFreeEncoder)
    assert encoder.idf_source == str(report.model / "idf.json")
    source = write_jsonl(tmp_path / "docs.jsonl", corpus_documents())
    build_index(Corpus(str(source)), encoder, tmp_path / "index", progress=False)
    hits = open_search(tmp_path / "index").search("wind tunnel lift of a wing", k=3).hits
    assert hits[0].id == "wing-0" and hits[0].score > 2 * hits[1].score


def test_resume_continues_exactly_where_the_run_stopped(prepared, tmp_path):
    import torch

    from lexir.train.trainer import train

    _, data = prepared
    train(small_options(), data, tmp_path / "straight", progress=False)
    stopped = train(small_options(), data, tmp_path / "stopped", progress=False)
    (tmp_path / "stopped" / "checkpoints" / "step-000004.pt").unlink()  # as if killed after step 2's checkpoint
    resumed = train(small_options(), data, tmp_path / "stopped", resume=True, progress=False)
    assert resumed.resumed_from == 2
    log = [json.loads(line) for line in (tmp_path / "stopped" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4]
    straight_log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert [entry["total"] for entry in log] == pytest.approx([entry["total"] for entry in straight_log])
    first = torch.load(tmp_path / "straight" / "checkpoints" / "step-000004.pt", weights_only=False)["student"]
    second = torch.load(tmp_path / "stopped" / "checkpoints" / "step-000004.pt", weights_only=False)["student"]
    assert all(torch.allclose(first[name], second[name]) for name in first)
    assert stopped.model == resumed.model


def test_a_run_folder_is_never_overwritten_or_resumed_with_other_options(prepared, tmp_path):
    from lexir.train.trainer import train

    _, data = prepared
    train(small_options(steps=2), data, tmp_path / "run", progress=False)
    with pytest.raises(LexirError, match="--resume"):
        train(small_options(steps=2), data, tmp_path / "run", progress=False)
    with pytest.raises(LexirError, match="other options"):
        train(small_options(steps=2, flops="plain"), data, tmp_path / "run", resume=True, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(LexirError, match="not a lexir training folder"):
        train(small_options(), data, tmp_path / "other", progress=False)


def test_trainable_idf_is_trained_and_exported(prepared, tmp_path):
    from lexir.train.trainer import train

    _, data = prepared
    report = train(small_options(train_idf=True, steps=2), data, tmp_path / "run", progress=False)
    before = json.loads(data.idf_path.read_text())
    after = json.loads((report.model / "idf.json").read_text())
    changed = [token for token in after if abs(after[token] - before[token]) > 1e-6]
    assert changed  # the query tokens of the batches moved


def small_dev_set():
    from lexir.train.dev import DevSet

    documents = corpus_documents()
    return DevSet("small/dev", {"q-wing": "wind tunnel lift of a wing", "q-coffee": "caffeine in coffee"},
                  {"q-wing": {"wing-0": 1}, "q-coffee": {"coffee-0": 2}},
                  [doc_id for doc_id, _, _ in documents], [text for _, _, text in documents])


def test_dev_score_ranks_the_whole_corpus_with_the_student(prepared):
    from lexir.train.dev import dev_score
    from lexir.train.trainer import _student

    _, data = prepared
    student = _student(small_options(), data)
    assert dev_score(student, small_dev_set()) == pytest.approx(1.0)  # each topic word is in one document only
    assert student.training  # left as it was found


def test_dev_scores_by_the_index_encoder_equal_the_students_own(prepared):
    """On a CPU the dev pass encodes with SpladeEncoder; elsewhere (a GPU) with the student: the same scores."""
    import torch

    from lexir.train.dev import _index_time_vectors, _scores_on_device
    from lexir.train.trainer import _student

    _, data = prepared
    student = _student(small_options(), data).eval()
    dev = small_dev_set()
    with torch.no_grad():
        queries = student.query_weights(list(dev.queries.values()))
        by_encoder = (_index_time_vectors(student, dev.doc_texts) @ queries.numpy().T).T
        by_student = _scores_on_device(student, queries, dev.doc_texts).numpy()
    assert by_encoder.max() > 0
    np.testing.assert_allclose(by_encoder, by_student, rtol=1e-4, atol=1e-4)


def test_a_dev_split_picks_the_checkpoint_that_is_exported(prepared, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForMaskedLM

    from lexir.train import trainer

    _, data = prepared
    scores = iter([0.9, 0.5])  # the first checkpoint is the best: the exported model must be it, not the last
    monkeypatch.setattr(trainer, "dev_score", lambda student, dev: next(scores))
    report = trainer.train(small_options(dev="small/dev"), data, tmp_path / "run", progress=False,
                           dev=small_dev_set())
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [(entry["step"], entry["dev"]) for entry in log if "dev" in entry] == [(2, 0.9), (4, 0.5)]
    assert (report.best_step, report.best_dev_score) == (2, 0.9)
    record = json.loads((report.model / "lexir-training.json").read_text())
    assert record["best_on_dev"] == {"step": 2, "nDCG@10": 0.9, "split": "small/dev"}
    exported = AutoModelForMaskedLM.from_pretrained(report.model).state_dict()
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=False)["student"]
    last = torch.load(tmp_path / "run" / "checkpoints" / "step-000004.pt", weights_only=False)["student"]
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(exported[name], best["mlm." + name])
    assert not torch.equal(exported[name], last["mlm." + name])
    with pytest.raises(LexirError, match="dev split"):
        trainer.train(small_options(dev="small/dev"), data, tmp_path / "other", progress=False)


def test_test_splits_are_refused_before_anything_is_loaded():
    import random

    from lexir.train.pairs import supervised_queries

    with pytest.raises(LexirError, match="test split"):
        supervised_queries("beir/nfcorpus/test", {}, random.Random(0), None)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--teacher", "cross-encoder"], "teachers must be some of"),
    (["--flops", "l1"], "--flops must be one of"),
    (["--group-size", "1"], "group-size is too small"),
    (["--no-supervised"], "no training data"),
    (["--dev", "beir/nfcorpus/test"], "test split"),
    (["--device", "abacus"], "unknown device"),
])
def test_cli_bad_options_are_one_line_errors(tmp_path, args, fragment):
    result = subprocess.run([sys.executable, "-m", "lexir", "train", str(tmp_path / "run"), *args, "--cache",
                             str(tmp_path / "cache"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and fragment in result.stderr and "Traceback" not in result.stderr
    assert not Path(tmp_path / "run").exists()
