"""`lexir eval`: evaluate an encoder on a dataset, and compare saved results.

`lexir eval DATASET ...` is short for `lexir eval run DATASET ...`: the group treats a
first word that is not one of its commands as the dataset of `run`. User errors are
raised as LexirError for the top-level CLI to print as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from lexir.cli_options import DeviceOption, with_search_options
from lexir.eval.datasets import load_dataset, with_query_vectors
from lexir.eval.measures import DEFAULT_MEASURES, parse_measures
from lexir.eval.report import Table, compare, comparison_table, result_tables, to_markdown, to_rich, transpose
from lexir.eval.results import load_result
from lexir.eval.runner import DEFAULT_DEPTH, evaluate
from lexir.formats.topics import read_query_vectors
from lexir.presets import Preset
from lexir.search import SearchOptions
from lexir.search.conversation import DEFAULT_MAX_HISTORY

DEFAULT_COMMAND = "run"


class DatasetDefaultGroup(TyperGroup):
    """A group whose unknown first word (or leading option) starts the default `run` command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0].startswith("-") and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                          list[str]]:
        if args and args[0] not in self.commands:
            return DEFAULT_COMMAND, self.commands[DEFAULT_COMMAND], args
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "DATASET [OPTIONS]  |  compare RESULT...")


eval_app = typer.Typer(
    cls=DatasetDefaultGroup, no_args_is_help=True, add_completion=False,
    help="Evaluate retrieval effectiveness and speed on a dataset with judgements; compare results.\n\n"
         "`lexir eval DATASET` is short for `lexir eval run DATASET`.",
)


def _print(tables: list[Table], markdown: bool) -> None:
    if markdown:
        typer.echo("\n".join(to_markdown(table) for table in tables), nl=False)
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    for table in tables:
        console.print(f"[bold]{escape(table.title)}[/bold]")
        console.print(to_rich(table))


@eval_app.command("run")
@with_search_options
def run_command(
    dataset: Annotated[str, typer.Argument(help="An ir_datasets id with docs, queries and qrels (beir/nfcorpus/test, "
                                                "cranfield) or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/).")],
    encoder: Annotated[str | None, typer.Option("--encoder", "-e", help="Encoder to build (or reuse from the "
                                                "cache) an index with (default: splade-tiny).")] = None,
    index: Annotated[list[Path] | None, typer.Option(
        "--index", "-i", help="Search this existing index instead; repeat it to fuse several indexes.")] = None,
    split: Annotated[str | None, typer.Option(help="Qrels split of a BEIR folder (default: test), or of an "
                                              "ir_datasets id (DATASET/SPLIT).")] = None,
    queries: Annotated[Path | None, typer.Option(
        "--queries", help="Pre-encoded topics searched in place of the dataset's query texts: JSONL of "
                          "{\"id\", \"vector\"} lines, or Pyserini's TSV of id<TAB>tok tok tok.")] = None,
    measures: Annotated[list[str] | None, typer.Option(
        "--measures", "-m", help="ir_measures names, repeated or comma-separated "
                                 f"(default: {', '.join(DEFAULT_MEASURES)}).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write result.json and run.trec here.")] = None,
    depth: Annotated[int, typer.Option(help="Hits per query in the run.")] = DEFAULT_DEPTH,
    drop_self_hits: Annotated[bool | None, typer.Option(
        "--drop-self-hits/--keep-self-hits",
        help="Drop a hit whose id equals the query id (default: on for BEIR datasets only).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown tables.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
    tune_on: Annotated[str | None, typer.Option(
        help="Choose the fusion weights on this other split of the collection (e.g. beir/nfcorpus/dev) by the "
             "first measure, then evaluate with them: alpha of two retrievers (1-alpha,alpha) over a grid, "
             "coordinate ascent for more.")] = None,
    history_turns: Annotated[int, typer.Option(
        help="Conversational queries (a \"history\" in queries.jsonl): earlier turns kept, newest first.")]
    = DEFAULT_MAX_HISTORY,
    device: DeviceOption = None,
    search_options: SearchOptions = SearchOptions(),
    preset: Preset | None = None,
) -> None:
    """Build (or reuse) an index, run every judged query, and score the run."""
    names = [str(measure) for measure in parse_measures(measures or DEFAULT_MEASURES)]  # fail before any work
    data = load_dataset(dataset, split)
    if queries is not None:
        data = with_query_vectors(data, read_query_vectors(queries), str(queries))
    result = evaluate(data, encoder=encoder, index=index, options=search_options, measures=names, depth=depth,
                      drop_self_hits=drop_self_hits, progress=progress,
                      tune_on=load_dataset(tune_on) if tune_on is not None else None, preset=preset,
                      max_history=history_turns, device=device)
    _print(result_tables(result), markdown)
    if out is not None:
        result_path, run_path = result.save(out)
        if not markdown:
            typer.echo(f"wrote {result_path} and {run_path}")


@eval_app.command("compare")
def compare_command(
    results: Annotated[list[Path], typer.Argument(help="result.json files, or the folders holding them; the first "
                                                       "is the baseline.")],
    measures: Annotated[list[str] | None, typer.Option(
        "--measures", "-m", help="Only these measures (as named in the results).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
) -> None:
    """Systems side by side, each tested against the first (paired t-test on per-query values)."""
    loaded = [load_result(path) for path in results]
    names = [str(measure) for measure in parse_measures(measures)] if measures else None
    table = comparison_table(compare(loaded, names))
    _print([table if markdown else transpose(table)], markdown)
