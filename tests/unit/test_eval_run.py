"""`lexir eval` end to end on a tiny BEIR folder whose BM25 ranking is known by construction.

Every document has 4 analyzed terms, so BM25's length normalisation is the same for all
and a query term ranks documents by its term frequency alone:
    "zebra":   d1 (tf 3) > d2 (tf 2) > d3 (tf 1)
    "giraffe": q2 (tf 3) > d5 (tf 2) > d4 (tf 1)     (q2 is a document whose id is a query id)
    "unicorn": no document
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lexir.eval import evaluate, load_dataset
from lexir.eval.cli import eval_app

DOCS = {
    "d1": "zebra zebra zebra filler",
    "d2": "zebra zebra filler filler",
    "d3": "zebra filler filler filler",
    "d4": "giraffe filler filler filler",
    "d5": "giraffe giraffe filler filler",
    "q2": "giraffe giraffe giraffe filler",
    "d6": "okapi okapi okapi okapi",
}
QUERIES = {"q1": "zebra", "q2": "giraffe", "q3": "unicorn", "q4": "filler"}  # q4 has no judgements
QRELS_TEST = [("q1", "d1", 0), ("q1", "d2", 2), ("q1", "d3", 1), ("q1", "d5", 2),
              ("q2", "d4", 1),
              ("q3", "d6", 1)]
QRELS_DEV = [("q1", "d3", 1)]


def write_beir_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for doc_id, text in DOCS.items():
            handle.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for query_id, text in QUERIES.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, rows in (("test", QRELS_TEST), ("dev", QRELS_DEV)):
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{r}" for q, d, r in rows]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def beir_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEXIR_CACHE", str(tmp_path / "cache"))
    return write_beir_folder(tmp_path / "tiny")


def read_run(path: Path) -> dict[str, list[str]]:
    run: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, _, doc_id, _, _, _ = line.split()
        run.setdefault(qid, []).append(doc_id)
    return run


def test_ranking_is_the_constructed_one(beir_folder: Path) -> None:
    result = evaluate(load_dataset(str(beir_folder)), encoder="bm25", progress=False)
    assert [doc for doc, _ in result.run["q1"]] == ["d1", "d2", "d3"]
    assert [doc for doc, _ in result.run["q2"]] == ["d5", "d4"]  # q2 itself dropped (BEIR rule)
    assert result.run["q3"] == []
    assert "q4" not in result.run and result.num_queries == 3  # unjudged queries are not run


def test_ndcg_at_10_matches_hand_computation(beir_folder: Path) -> None:
    result = evaluate(load_dataset(str(beir_folder)), encoder="bm25", progress=False)
    # trec_eval's nDCG: gain = judged grade (linear), discount log2(rank + 1), grade 0 gains nothing.
    # q1 ranks d1 (grade 0), d2 (2), d3 (1); the ideal order of its grades {0, 2, 1, 2} is 2, 2, 1, 0.
    dcg_q1 = 0 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    idcg_q1 = 2 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4) + 0 / math.log2(5)
    # q2 ranks d5 (unjudged), d4 (1); ideal: d4 first.
    dcg_q2 = 0 / math.log2(2) + 1 / math.log2(3)
    idcg_q2 = 1 / math.log2(2)
    # q3 retrieves nothing: it counts as 0 (trec_eval -c), not left out of the mean.
    expected = {"q1": dcg_q1 / idcg_q1, "q2": dcg_q2 / idcg_q2, "q3": 0.0}
    assert dcg_q1 / idcg_q1 == pytest.approx(0.468349, abs=1e-6)
    for qid, value in expected.items():
        assert result.per_query[qid]["nDCG@10"] == pytest.approx(value, abs=1e-9)
    assert result.measures["nDCG@10"] == pytest.approx(sum(expected.values()) / 3, abs=1e-9)


def test_grade_zero_is_not_relevant(beir_folder: Path) -> None:
    result = evaluate(load_dataset(str(beir_folder)), encoder="bm25", progress=False)
    # q1's first hit d1 is judged 0: the first relevant hit is d2 at rank 2.
    assert result.per_query["q1"]["RR@10"] == pytest.approx(1 / 2)
    # Relevant for recall: d2, d3, d5 (grade >= 1), of which d2 and d3 are retrieved; d1 does not count.
    assert result.per_query["q1"]["R@100"] == pytest.approx(2 / 3)


def test_self_hits_dropped_for_beir_and_kept_on_request(beir_folder: Path) -> None:
    dataset = load_dataset(str(beir_folder))
    dropped = evaluate(dataset, encoder="bm25", progress=False)
    kept = evaluate(dataset, encoder="bm25", drop_self_hits=False, progress=False)
    assert dropped.drop_self_hits and not kept.drop_self_hits
    assert [doc for doc, _ in kept.run["q2"]] == ["q2", "d5", "d4"]
    assert dropped.per_query["q2"]["RR@10"] == pytest.approx(1 / 2)
    assert kept.per_query["q2"]["RR@10"] == pytest.approx(1 / 3)
    assert kept.per_query["q2"]["nDCG@10"] == pytest.approx((1 / math.log2(4)) / (1 / math.log2(2)))


def test_depth_still_reached_after_a_self_hit_is_dropped(beir_folder: Path) -> None:
    result = evaluate(load_dataset(str(beir_folder)), encoder="bm25", depth=2, progress=False)
    assert [doc for doc, _ in result.run["q2"]] == ["d5", "d4"]
    assert [doc for doc, _ in result.run["q1"]] == ["d1", "d2"]


def test_run_trec_format(beir_folder: Path, tmp_path: Path) -> None:
    result = evaluate(load_dataset(str(beir_folder)), encoder="bm25", progress=False)
    result_path, run_path = result.save(tmp_path / "out")
    lines = run_path.read_text(encoding="utf-8").splitlines()
    pattern = re.compile(r"^(\S+) Q0 (\S+) (\d+) (-?\d+(?:\.\d+)?(?:e[-+]?\d+)?) lexir$")
    by_query: dict[str, list[tuple[int, float]]] = {}
    for line in lines:
        match = pattern.match(line)
        assert match, line
        by_query.setdefault(match[1], []).append((int(match[3]), float(match[4])))
    assert set(by_query) == {"q1", "q2"}
    for hits in by_query.values():
        assert [rank for rank, _ in hits] == list(range(1, len(hits) + 1))
        scores = [score for _, score in hits]
        assert scores == sorted(scores, reverse=True) and len(hits) <= 1000
    assert read_run(run_path) == {"q1": ["d1", "d2", "d3"], "q2": ["d5", "d4"]}
    saved = json.loads(result_path.read_text(encoding="utf-8"))
    assert saved["measures"] == result.measures and saved["per_query"]["q3"]["nDCG@10"] == 0.0
    assert saved["index"]["docs"] == 7 and saved["encoder"]["name"] == "bm25"
    efficiency = saved["efficiency"]
    assert efficiency["built_now"] is True and efficiency["build_seconds"] > 0
    assert efficiency["mean_doc_nonzeros"] == pytest.approx(sum(len(set(t.split())) for t in DOCS.values()) / 7)
    # Queries run: zebra (1 term, df 3), giraffe (1 term, df 3), unicorn (0 terms).
    assert efficiency["mean_query_nonzeros"] == pytest.approx(2 / 3)
    assert efficiency["mean_postings_touched"] == pytest.approx((3 + 3 + 0) / 3)
    for key in ("latency_ms_mean", "latency_ms_p50", "latency_ms_p99", "batch_qps"):
        assert efficiency[key] > 0


def test_cached_index_is_reused_with_its_build_figures(beir_folder: Path) -> None:
    dataset = load_dataset(str(beir_folder))
    first = evaluate(dataset, encoder="bm25", progress=False)
    second = evaluate(dataset, encoder="bm25", progress=False)
    assert first.efficiency.built_now and not second.efficiency.built_now
    assert second.index.path == first.index.path
    assert Path(first.index.path).parent.name == "indexes" and Path(first.index.path).name.startswith("tiny-bm25-")
    assert second.efficiency.build_seconds == pytest.approx(first.efficiency.build_seconds)
    reused = evaluate(dataset, index=Path(first.index.path), progress=False)
    assert reused.per_query == first.per_query


def test_split_option_reads_other_qrels(beir_folder: Path) -> None:
    result = evaluate(load_dataset(str(beir_folder), split="dev"), encoder="bm25", progress=False)
    assert list(result.per_query) == ["q1"]
    assert result.per_query["q1"]["RR@10"] == pytest.approx(1 / 3)


def test_cli_dataset_shortcut_equals_run_command(beir_folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = []
    for number, prefix in enumerate(([], ["run"])):
        out = tmp_path / f"out{number}"
        result = runner.invoke(eval_app, [*prefix, str(beir_folder), "--encoder", "bm25", "--out", str(out),
                                          "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "nDCG@10" in result.output
        outputs.append(out)
    first, second = (json.loads((out / "result.json").read_text()) for out in outputs)
    assert first["measures"] == second["measures"] and first["per_query"] == second["per_query"]
    assert (outputs[0] / "run.trec").read_text() == (outputs[1] / "run.trec").read_text()
    options_first = runner.invoke(eval_app, ["--encoder", "bm25", str(beir_folder), "--no-progress", "--markdown",
                                             "-m", "nDCG@10,P@2", "-m", "MRR@10"])
    assert options_first.exit_code == 0, options_first.output
    assert "| nDCG@10 |" in options_first.output and "| P@2 |" in options_first.output
    assert "| RR@10 |" in options_first.output


def test_cli_mounted_under_a_parent_app(beir_folder: Path) -> None:
    import typer

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The top-level app."""

    app.add_typer(eval_app, name="eval")
    result = CliRunner().invoke(app, ["eval", str(beir_folder), "-e", "bm25", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "bm25" in result.output
    help_text = CliRunner().invoke(app, ["eval", "--help"])
    assert help_text.exit_code == 0 and "compare" in help_text.output


def test_run_file_scores_are_each_their_own_shortest_float32(tmp_path: Path) -> None:
    """write_trec_run formats each distinct score once: repeated scores, and 0.0 beside -0.0, still read back
    as written."""
    from lexir.eval.results import format_score, write_trec_run

    scores = [2.5, 0.1, 2.5, 0.0, -0.0, 0.0, -1e-8, 0.1, 1 / 3]
    write_trec_run({"q1": [(f"d{i}", score) for i, score in enumerate(scores)]}, tmp_path / "run.trec")
    written = [line.split()[4] for line in (tmp_path / "run.trec").read_text().splitlines()]
    assert written == [format_score(score) for score in scores]
    assert written[3:6] == ["0", "-0", "0"]
