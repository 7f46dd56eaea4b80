"""The `lexir` command line: a thin typer face over the library.

Each command parses its options, calls one library function and prints. A
LexirError (bad input, missing files, mismatched encoders) becomes a one-line
message and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lexir.errors import LexirError

app = typer.Typer(help="lexir: learned sparse retrieval search engine.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
index_app = typer.Typer(help="Build and inspect indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")
console = Console(stderr=True)
stdout = Console()


def _mount_optional_apps() -> None:
    from lexir.eval.cli import eval_app

    app.add_typer(eval_app, name="eval")


@index_app.command("build")
def index_build(
    source: Annotated[str, typer.Argument(help="ir_datasets id (beir/nfcorpus), BEIR folder, or JSONL(.gz) file")],
    out: Annotated[Path, typer.Option("--out", "-o", help="index directory to create")],
    encoder: Annotated[str, typer.Option(help="registry name (splade-tiny, bm25, ...), hub id or model folder")]
    = "splade-tiny",
    batch_size: Annotated[int | None, typer.Option(help="texts per forward pass (model encoders)")] = None,
    max_length: Annotated[int | None, typer.Option(help="document token limit (model encoders)")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's choice)")] = None,
    chunk_size: Annotated[int, typer.Option(help="documents per resumable chunk")] = 2048,
    resume: Annotated[bool, typer.Option(help="continue an interrupted build from its last finished chunk")]
    = False,
    overwrite: Annotated[bool, typer.Option(help="replace an existing index or discard an interrupted build")]
    = False,
    skip_bad_lines: Annotated[bool, typer.Option(help="skip malformed JSONL lines instead of stopping")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Encode a corpus and write an index directory."""
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index

    corpus = Corpus(source, skip_bad_lines=skip_bad_lines)
    options = {"batch_size": batch_size, "max_doc_length": max_length, "threads": threads}
    sparse_encoder = create_encoder(encoder, **options)
    report = build_index(corpus, sparse_encoder, out, chunk_size=chunk_size, resume=resume, overwrite=overwrite,
                         progress=not quiet)
    if corpus.skipped:
        console.print(f"[yellow]skipped {corpus.skipped} malformed lines[/yellow]")
    resumed = f" ({report.resumed_chunks} chunks resumed)" if report.resumed_chunks else ""
    console.print(
        f"indexed {report.num_docs:,} documents{resumed} into {report.path}: "
        f"{report.docs_per_second:,.1f} docs/s encoding, {report.seconds:.1f} s in all, "
        f"{report.index_bytes / 2**20:.1f} MiB, {report.num_postings:,} postings"
    )


@index_app.command("info")
def index_info(
    index: Annotated[Path, typer.Argument(help="index directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print the manifest as JSON")] = False,
) -> None:
    """Show an index's manifest and size."""
    from lexir.index import InvertedIndex

    opened = InvertedIndex(index)
    manifest = opened.manifest.to_dict()
    manifest["index_bytes"] = opened.size_bytes()
    if as_json:
        stdout.print_json(json.dumps(manifest))
        return
    table = Table(title=str(index), show_header=False)
    for key, value in manifest.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    stdout.print(table)


@app.command("search")
def search(
    index: Annotated[Path, typer.Argument(help="index directory")],
    query: Annotated[str, typer.Argument(help="query text")],
    k: Annotated[int, typer.Option("-k", "--k", help="number of hits")] = 10,
    explain: Annotated[bool, typer.Option(help="show each query term's part of every score")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    text: Annotated[bool, typer.Option(help="include document titles and texts")] = False,
    query_weighting: Annotated[str, typer.Option(
        help="query term weights: model (the encoder's), idf (the index's corpus IDF) or model-idf (product)")]
    = "model",
    query_option: Annotated[list[str] | None, typer.Option(
        help="query-side encoder option KEY=VALUE, repeatable (inference-free: idf=corpus|PATH, "
             "query_tf=binary|count, min_idf=X, drop_stopwords=true, max_query_terms=N)")] = None,
) -> None:
    """Search an index with its own encoder."""
    from lexir.options import parse_key_values
    from lexir.search import Searcher

    searcher = Searcher(index, query_weighting=query_weighting, query_options=parse_key_values(query_option))
    result = searcher.search(query, k=k, explain=explain, with_text=text or not as_json)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    table = Table(title=f"{query!r}: {len(result.hits)} hits in {result.took_ms:.1f} ms")
    for column in ("rank", "id", "score", "title"):
        table.add_column(column)
    if explain:
        table.add_column("matched terms")
    for hit in result.hits:
        row = [str(hit.rank), hit.id, f"{hit.score:.4f}", (hit.title or hit.text or "")[:70]]
        if explain:
            row.append(", ".join(f"{t} {v:.2f}" for t, v in list((hit.contributions or {}).items())[:6]))
        table.add_row(*row)
    stdout.print(table)


def main() -> None:
    """Entry point: run the app, turning user errors into one line on stderr."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ir_datasets").setLevel(logging.WARNING)
    _mount_optional_apps()
    try:
        app()
    except LexirError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)
