"""Tables of evaluation results: one system, or several side by side with paired t-tests.

Every table is built once as plain rows (`Table`) and then drawn either with rich for
the terminal or as Markdown for the docs, so the two never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from lexir.errors import LexirError
from lexir.eval.results import EvalResult

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- one result


def result_tables(result: EvalResult) -> list[Table]:
    """Effectiveness, index and efficiency of one evaluation (and its fusion weight sweep, if tuned)."""
    encoder = result.encoder_name
    measures = Table(f"{result.dataset}: {encoder} ({result.num_queries} queries)", ["measure", "value"],
                     [[name, _value(value)] for name, value in result.measures.items()])
    eff = result.efficiency
    build = "" if eff.built_now else " (from an earlier build)"
    rows = [
        ["documents / terms / postings", f"{result.index.docs:,} / {result.index.terms:,} / {result.index.postings:,}"],
        ["index size", _megabytes(eff.index_bytes)],
        ["build time", _number(eff.build_seconds, "s", 1) + (build if eff.build_seconds is not None else "")],
        ["encoding", _number(eff.encode_docs_per_second, "docs/s", 1)],
        ["latency mean / p50 / p99 (1 thread)",
         " / ".join(_number(v, "", 2) for v in (eff.latency_ms_mean, eff.latency_ms_p50, eff.latency_ms_p99))
         + " ms"],
        ["batched throughput", _number(eff.batch_qps, "QPS", 1)],
        ["nonzeros per document / query",
         " / ".join(_number(v, "", 1) for v in (eff.mean_doc_nonzeros, eff.mean_query_nonzeros))],
        ["postings touched per query", _number(eff.mean_postings_touched, "", 0)],
    ]
    tables = [measures, Table("index and efficiency", ["figure", "value"], rows)]
    tuning = result.query.get("tuning")
    if tuning and tuning.get("best_alpha") is not None:
        tables.append(Table(f"fusion weight alpha tuned on {tuning['split']}", ["alpha", tuning["measure"]],
                            [[f"{alpha:g}" + (" (chosen)" if alpha == tuning["best_alpha"] else ""), _value(value)]
                             for alpha, value in tuning["values"]]))
    elif tuning:
        best = max(value for _, value in tuning["values"])
        tables.append(Table(f"fusion weights tuned on {tuning['split']} (coordinate ascent; chosen, scaled to sum "
                            f"1: {', '.join(f'{w:g}' for w in tuning['best_weights'])})",
                            ["weights", tuning["measure"]],
                            [[",".join(f"{w:g}" for w in weights) + (" (chosen)" if value == best else ""),
                              _value(value)] for weights, value in tuning["values"]]))
    return tables


# ---------------------------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class MeasureComparison:
    """One measure for one system: its mean, and its paired t-test against the first system."""

    value: float | None
    p_value: float | None
    common_queries: int


@dataclass(frozen=True)
class Comparison:
    dataset: str
    labels: list[str]
    results: list[EvalResult]
    measures: list[str]
    cells: list[dict[str, MeasureComparison]]


def paired_t_test(baseline: dict[str, float], other: dict[str, float]) -> tuple[float | None, int]:
    """Two-sided paired t-test p-value over the queries both have (None when undefined), and that count."""
    from scipy.stats import ttest_rel

    common = sorted(set(baseline) & set(other))
    if len(common) < 2:
        return None, len(common)
    p_value = float(ttest_rel([other[q] for q in common], [baseline[q] for q in common]).pvalue)
    return (p_value if math.isfinite(p_value) else None), len(common)


def compare(results: Sequence[EvalResult], measures: Sequence[str] | None = None) -> Comparison:
    """Each system against the first, on every measure any of them has (or only `measures`)."""
    if len(results) < 1:
        raise LexirError("give at least one result to compare")
    datasets = sorted({result.dataset for result in results})
    if len(datasets) > 1:
        raise LexirError(f"the results are on different datasets ({', '.join(datasets)}); compare runs of one dataset")
    names = list(measures) if measures else list(dict.fromkeys(m for result in results for m in result.measures))
    for name in names:
        if not any(name in result.measures for result in results):
            raise LexirError(f"no result has the measure '{name}'; they have: "
                             + ", ".join(sorted({m for r in results for m in r.measures})))
    baseline = results[0]
    cells = []
    for result in results:
        row = {}
        for name in names:
            if name not in result.measures:
                row[name] = MeasureComparison(None, None, 0)
                continue
            p_value, common = None, len(result.per_query)
            if result is not baseline and name in baseline.measures:
                p_value, common = paired_t_test(_per_query(baseline, name), _per_query(result, name))
            row[name] = MeasureComparison(result.measures[name], p_value, common)
        cells.append(row)
    return Comparison(datasets[0], _labels(results), list(results), names, cells)


def comparison_table(comparison: Comparison) -> Table:
    columns = ["system", "encoder", *comparison.measures, "latency p50 ms", "QPS", "index MB", "nnz/doc"]
    rows = []
    for label, result, cells in zip(comparison.labels, comparison.results, comparison.cells):
        eff = result.efficiency
        rows.append([label, result.encoder_name, *(_cell(cells[m]) for m in comparison.measures),
                     _number(eff.latency_ms_p50, "", 2), _number(eff.batch_qps, "", 1),
                     f"{eff.index_bytes / 1e6:.1f}", _number(eff.mean_doc_nonzeros, "", 0)])
    notes = [f"p: two-sided paired t-test against {comparison.labels[0]} over the queries both were run on; "
             f"* p < {SIGNIFICANCE}."]
    return Table(f"{comparison.dataset}: {len(rows)} systems", columns, rows, notes)


def _per_query(result: EvalResult, measure: str) -> dict[str, float]:
    return {qid: values[measure] for qid, values in result.per_query.items() if measure in values}


def _labels(results: Sequence[EvalResult]) -> list[str]:
    """The folder of each result.json (e.g. runs/bm25), else the encoder name; made unique."""
    labels = []
    for number, result in enumerate(results, start=1):
        source = result.source
        label = source.parent.name if source is not None and source.name == "result.json" else (
            source.stem if source is not None else result.encoder_name)
        labels.append(label if label not in labels else f"{label} ({number})")
    return labels


def _cell(cell: MeasureComparison) -> str:
    if cell.value is None:
        return "–"
    if cell.p_value is None:
        return _value(cell.value)
    marker = "*" if cell.p_value < SIGNIFICANCE else ""
    return f"{_value(cell.value)} (p={_p(cell.p_value)}){marker}"


# ---------------------------------------------------------------------------------------------- drawing


def transpose(table: Table) -> Table:
    """Rows become columns (systems as columns fit a terminal better than as rows)."""
    columns = [table.columns[0], *(row[0] for row in table.rows)]
    rows = [[name, *(row[i] for row in table.rows)] for i, name in enumerate(table.columns) if i > 0]
    return Table(table.title, columns, rows, table.notes)


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table with the title as a bold line above it."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    numeric = [all(_looks_numeric(row[i]) for row in table.rows) and table.rows for i in range(len(table.columns))]
    rule = ["---:" if is_numeric else "---" for is_numeric in numeric]
    parts = [f"**{table.title}**", "", line(table.columns), "|" + "|".join(rule) + "|"]
    parts += [line(row) for row in table.rows]
    parts += [""] + table.notes if table.notes else []
    return "\n".join(parts) + "\n"


def to_rich(table: Table):  # type: ignore[no-untyped-def]
    """A rich Table without its title (the CLI prints the title above it, unwrapped)."""
    from rich.table import Table as RichTable

    drawn = RichTable(caption="\n".join(table.notes) or None, caption_justify="left")
    for i, column in enumerate(table.columns):
        numeric = bool(table.rows) and all(_looks_numeric(row[i]) for row in table.rows)
        drawn.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in table.rows:
        drawn.add_row(*row)
    return drawn


def _looks_numeric(text: str) -> bool:
    head = text.split(" ")[0].replace(",", "").rstrip("*")
    try:
        float(head)
    except ValueError:
        return head == "–"
    return True


def _value(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _p(p_value: float) -> str:
    return f"{p_value:.3g}" if p_value >= 1e-4 else f"{p_value:.1e}"


def _number(value: float | None, unit: str, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}" + (f" {unit}" if unit else "")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
