"""`lexir eval compare`: systems side by side, paired t-tests against the first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy.stats import ttest_rel
from typer.testing import CliRunner

from lexir.errors import LexirError
from lexir.eval import EvalResult, compare, load_result
from lexir.eval.cli import eval_app
from lexir.eval.report import comparison_table, to_markdown
from lexir.eval.results import Efficiency, IndexStats

BASELINE = {"a": 0.10, "b": 0.50, "c": 0.30, "d": 0.70, "e": 0.20}
BETTER = {"a": 0.25, "b": 0.55, "c": 0.45, "d": 0.90, "e": 0.20}
NOISY = {"a": 0.00, "b": 0.90, "c": 0.10, "d": 0.60, "e": 0.50}


def make_result(encoder: str, per_query_ndcg: dict[str, float], dataset: str = "tiny") -> EvalResult:
    per_query = {qid: {"nDCG@10": value, "RR@10": min(1.0, 2 * value)} for qid, value in per_query_ndcg.items()}
    measures = {name: sum(values[name] for values in per_query.values()) / len(per_query)
                for name in ("nDCG@10", "RR@10")}
    efficiency = Efficiency(built_now=True, build_seconds=1.0, encode_docs_per_second=100.0, latency_ms_mean=1.0,
                            latency_ms_p50=0.9, latency_ms_p99=2.0, batch_qps=1000.0, index_bytes=2_000_000,
                            mean_doc_nonzeros=50.0, mean_query_nonzeros=3.0, mean_postings_touched=120.0)
    return EvalResult(dataset=dataset, encoder={"name": encoder, "kind": "bm25"},
                      index=IndexStats("/nowhere", 5, 10, 40, 2_000_000), measures=measures, per_query=per_query,
                      efficiency=efficiency, depth=1000, drop_self_hits=True, num_queries=len(per_query),
                      lexir_version="test", created_at="2025-01-01T00:00:00+00:00",
                      run={qid: [("doc", 1.0)] for qid in per_query})


@pytest.fixture
def saved(tmp_path: Path) -> list[Path]:
    folders = []
    for name, values in (("base", BASELINE), ("better", BETTER), ("noisy", NOISY)):
        make_result(name, values).save(tmp_path / name)
        folders.append(tmp_path / name)
    return folders


def test_p_values_equal_scipy_paired_t_test(saved: list[Path]) -> None:
    results = [load_result(saved[0]), load_result(saved[1] / "result.json"), load_result(saved[2])]
    comparison = compare(results)
    assert comparison.labels == ["base", "better", "noisy"]
    queries = sorted(BASELINE)
    for row, values in ((1, BETTER), (2, NOISY)):
        expected = ttest_rel([values[q] for q in queries], [BASELINE[q] for q in queries]).pvalue
        cell = comparison.cells[row]["nDCG@10"]
        assert cell.p_value == pytest.approx(expected, rel=1e-12)
        assert cell.common_queries == 5
    assert comparison.cells[0]["nDCG@10"].p_value is None  # the baseline is not tested against itself
    assert comparison.cells[1]["nDCG@10"].value == pytest.approx(sum(BETTER.values()) / 5)


def test_paired_test_uses_only_common_queries(tmp_path: Path) -> None:
    partial = {q: v for q, v in BETTER.items() if q != "e"}
    results = [make_result("base", BASELINE), make_result("partial", partial)]
    cell = compare(results).cells[1]["nDCG@10"]
    queries = sorted(partial)
    assert cell.common_queries == 4
    assert cell.p_value == pytest.approx(
        ttest_rel([partial[q] for q in queries], [BASELINE[q] for q in queries]).pvalue, rel=1e-12)


def test_identical_systems_have_no_p_value() -> None:
    comparison = compare([make_result("a", BASELINE), make_result("b", BASELINE)])
    assert comparison.cells[1]["nDCG@10"].p_value is None


def test_cli_compare_prints_p_values(saved: list[Path]) -> None:
    result = CliRunner().invoke(eval_app, ["compare", *map(str, saved), "--markdown", "-m", "nDCG@10"])
    assert result.exit_code == 0, result.output
    queries = sorted(BASELINE)
    p_better = ttest_rel([BETTER[q] for q in queries], [BASELINE[q] for q in queries]).pvalue
    assert f"(p={p_better:.3g})" in result.output
    assert "| base | base | 0.3600 |" in result.output
    assert "RR@10" not in result.output.split("\n\n")[1]  # only the measure asked for
    rich_output = CliRunner().invoke(eval_app, ["compare", *map(str, saved)])
    assert rich_output.exit_code == 0 and "nDCG@10" in rich_output.output


def test_markdown_table_shape(saved: list[Path]) -> None:
    text = to_markdown(comparison_table(compare([load_result(path) for path in saved])))
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3
    assert len({line.count("|") for line in table}) == 1


@pytest.mark.parametrize("problem", ["missing", "not-json", "not-a-result"])
def test_bad_result_files_are_lexir_errors(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "result.json"
    if problem == "not-json":
        path.write_text("{oops", encoding="utf-8")
    elif problem == "not-a-result":
        path.write_text(json.dumps({"dataset": "x"}), encoding="utf-8")
    with pytest.raises(LexirError):
        load_result(path)
    outcome = CliRunner().invoke(eval_app, ["compare", str(path)])
    assert isinstance(outcome.exception, LexirError)


def test_compare_refuses_different_datasets_and_unknown_measures() -> None:
    with pytest.raises(LexirError, match="different datasets"):
        compare([make_result("a", BASELINE), make_result("b", BETTER, dataset="other")])
    with pytest.raises(LexirError, match="P@5"):
        compare([make_result("a", BASELINE)], ["P@5"])
