"""The `lexir` command line: a thin typer face over the library.

Each command parses its options, calls one library function and prints. A
LexirError (bad input, missing files, mismatched encoders) becomes a one-line
message and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lexir.api.limits import DEFAULT_MAX_REQUEST_BYTES, Limits
from lexir.cli_options import DeviceOption, parse_key_values, with_search_options
from lexir.errors import LexirError
from lexir.search.conversation import DEFAULT_MAX_HISTORY
from lexir.search.options import SearchOptions

if TYPE_CHECKING:
    from lexir.distributed.encoding import RayEncoding
    from lexir.encoders.dense import DenseEncoder
    from lexir.eval.datasets import Topic
    from lexir.index.check import IndexCheck
    from lexir.index.dense_builder import DenseBuildReport
    from lexir.index.faiss_types import FaissType
    from lexir.index.sharded_ops import ShardedCheck
    from lexir.search import Searcher
    from lexir.search.conversation import Turn

app = typer.Typer(help="lexir: learned sparse retrieval search engine.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
index_app = typer.Typer(help="Build and inspect indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")
console = Console(stderr=True)
stdout = Console()
LOG_LEVEL_ENV = "LEXIR_LOG_LEVEL"
KEEP_ALIVE_SECONDS = 30  # idle keep-alive connections the server keeps (uvicorn's default is 5 s)
DENSE_INDEX_HELP = "flat (exact, the default), hnsw:M=32,efSearch=128 or ivfpq:nlist=256,m=16,nprobe=16"


def _mount_optional_apps() -> None:
    from lexir.eval.cli import eval_app
    from lexir.train.cli import train_command

    app.add_typer(eval_app, name="eval")
    app.command("train")(train_command)


@index_app.command("build")
def index_build(
    source: Annotated[str, typer.Argument(help="ir_datasets id (beir/nfcorpus), BEIR folder, JSONL(.gz) file of "
                                               "texts, or pre-encoded vectors: JsonVectorCollection JSONL(.gz), CIFF")],
    out: Annotated[Path, typer.Option("--out", "-o", help="index directory to create")],
    encoder: Annotated[str | None, typer.Option(help="registry name (splade-tiny, bm25, ...), hub id or model folder "
                                                     "(default splade-tiny; texts only)")] = None,
    encoder_option: Annotated[list[str] | None, typer.Option(
        "--encoder-option", help="encoder setting KEY=VALUE, repeatable (e.g. PromptReps doc_prompt=..., "
                                 "echo_infix=...); recorded in the index")] = None,
    input_format: Annotated[str, typer.Option(help="auto (CIFF by its *.ciff name, JsonVectorCollection by a "
                                                   "`vector` in its first line), documents, jsonvector or ciff")]
    = "auto",
    query_encoder: Annotated[str | None, typer.Option(help="pre-encoded vectors: the encoder whose vocabulary their "
                                                           "tokens are in and that encodes text queries (e.g. "
                                                           "splade-tiny); none: queries come as vectors")] = None,
    batch_size: Annotated[int | None, typer.Option(help="texts per forward pass (model encoders)")] = None,
    max_length: Annotated[int | None, typer.Option(help="document token limit (model encoders)")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's choice)")] = None,
    workers: Annotated[int, typer.Option(help="encoding processes (each with threads / workers torch threads); "
                                             "with --ray, the encoding actors on the cluster")] = 1,
    ray: Annotated[str | None, typer.Option(help="encode on a Ray cluster: auto (the one `ray start` runs here, or "
                                                 "RAY_ADDRESS), the head's host:port, or local (a private one)")]
    = None,
    cpus_per_worker: Annotated[float | None, typer.Option(help="--ray: CPUs each actor reserves (fractions "
                                                                "allowed; its torch threads: at least 1)")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option(help="--ray: GPUs each actor reserves (fractions allowed); "
                                                                "a model encoder then runs on them (cuda) unless "
                                                                "--device says otherwise")] = None,
    device: Annotated[str | None, typer.Option(help="model encoders: where the model runs: cpu (default), cuda, "
                                                    "cuda:N or auto (cuda where torch sees a GPU); with --ray, the "
                                                    "actors' too (default there: cuda with --gpus-per-worker, else "
                                                    "cpu)")] = None,
    precision: Annotated[str | None, typer.Option(help="model encoders: fp32 (exact, default) or bf16 (faster "
                                                       "where the CPU has bf16, slightly lossy)")] = None,
    title_weight: Annotated[float | None, typer.Option(help="bm25-title: the title field's BM25 weight, beside "
                                                            "contents' 1")] = None,
    chunk_size: Annotated[int, typer.Option(help="documents per resumable chunk")] = 2048,
    memory_limit: Annotated[str | None, typer.Option(help="memory the assembly of the postings may take, whatever "
                                                          "the corpus size (e.g. 512MiB, 8GiB; default 2GiB)")]
    = None,
    resume: Annotated[bool, typer.Option(help="continue an interrupted build from its last finished chunk")]
    = False,
    overwrite: Annotated[bool, typer.Option(help="replace an existing index or discard an interrupted build")]
    = False,
    skip_bad_lines: Annotated[bool, typer.Option(help="skip malformed JSONL lines instead of stopping")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
    dense: Annotated[str | None, typer.Option(help="also add a dense side with this encoder (minilm, or a "
                                                   "sentence-embedding hub id or folder)")] = None,
    dense_index: Annotated[str | None, typer.Option(help=f"FAISS type of the dense side: {DENSE_INDEX_HELP}")]
    = None,
    preset: Annotated[str | None, typer.Option(help="build the index a named configuration searches (its sparse "
                                                    "encoder and dense side, from lexir/presets.toml)")] = None,
    shards: Annotated[int, typer.Option(help="split the index into this many shards (documents routed by a hash "
                                             "of their id; scores equal one index's)")] = 1,
) -> None:
    """Encode a corpus and write an index directory (with --dense, a FAISS side too)."""
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.encoders.device import resolve_device
    from lexir.encoders.registry import create_dense_encoder
    from lexir.formats.inputs import detect_input_format, open_vectors
    from lexir.index import build_index
    from lexir.index.faiss_types import FaissType
    from lexir.index.sharded import check_num_shards
    from lexir.index.sharded_build import build_sharded_index
    from lexir.sizes import parse_size

    check_num_shards(shards)

    preset_options: dict[str, object] = {}  # the preset's sparse encoder settings (BM25's k1, b)
    if preset is not None:
        from lexir.presets import load_preset

        if encoder is not None or dense is not None:
            raise LexirError("--preset names its own encoders; give --preset or --encoder/--dense, not both")
        encoder, dense = load_preset(preset).sparse, load_preset(preset).dense
        preset_options = load_preset(preset).sparse_options
    limits = {"memory_limit": parse_size(memory_limit, "--memory-limit")} if memory_limit is not None else {}
    if dense_index is not None and dense is None:
        raise LexirError("--dense-index needs --dense ENCODER (or add a dense side later with `lexir index add-dense`)")
    faiss_type = FaissType.parse(dense_index or "flat")
    kind = detect_input_format(source, input_format)
    if kind == "documents" and query_encoder is not None:
        raise LexirError("--query-encoder is for pre-encoded vectors (JsonVectorCollection, CIFF); texts are "
                         "encoded with --encoder")
    if kind != "documents" and encoder is not None:
        raise LexirError(f"{source} holds pre-encoded vectors ({kind}): name the encoder that made them with "
                         "--query-encoder, not --encoder")
    dense_options = {"batch_size": batch_size, "threads": threads, "device": device}
    dense_encoder = create_dense_encoder(dense, **dense_options) if dense else None
    options = {"batch_size": batch_size, "max_doc_length": max_length, "threads": threads, "precision": precision,
               "title_weight": title_weight, "device": device, **preset_options, **parse_key_values(encoder_option)}
    if kind == "documents":
        corpus = Corpus(source, skip_bad_lines=skip_bad_lines)
        sparse_encoder = create_encoder(encoder or "splade-tiny", **options)
        if dense_encoder is None and hasattr(sparse_encoder, "dense_side"):  # PromptReps: both sides, one pass
            dense_encoder = sparse_encoder.dense_side()
    else:
        queries = create_encoder(query_encoder, threads=threads) if query_encoder is not None else None
        corpus, sparse_encoder = open_vectors(source, kind, queries, skip_bad_lines=skip_bad_lines,
                                              work_folder=out.parent, progress=not quiet)
    encoding = _ray_encoding(ray, workers, cpus_per_worker, gpus_per_worker, device)
    if device is not None and (encoding is None or dense_encoder is not None):
        resolve_device(device)  # this machine encodes on it: a GPU it lacks is said before anything is written
    if shards == 1:
        build = partial(build_index, workers=1 if encoding else workers, encode=encoding)
    else:
        build = partial(build_sharded_index, num_shards=shards, workers=workers,
                        encode_batches=encoding.batches(sparse_encoder) if encoding else None)
    try:
        report = build(corpus, sparse_encoder, out, chunk_size=chunk_size, resume=resume, overwrite=overwrite,
                       progress=not quiet, **limits)
    finally:
        getattr(corpus, "close", lambda: None)()  # a CIFF file's inversion work folder
    if corpus.skipped:
        console.print(f"[yellow]{corpus.skipped_summary()}[/yellow]", highlight=False)
    resumed = f" ({report.resumed_chunks} chunks resumed)" if report.resumed_chunks else ""
    console.print(
        f"indexed {report.num_docs:,} documents{resumed} into {report.path}: "
        f"{report.docs_per_second:,.1f} docs/s encoding, {report.seconds:.1f} s in all, "
        f"{report.index_bytes / 2**20:.1f} MiB, {report.num_postings:,} postings"
    )
    if dense_encoder is not None:
        _add_dense(out, dense_encoder, faiss_type, overwrite=True, progress=not quiet)


def _ray_encoding(address: str | None, workers: int, cpus: float | None, gpus: float | None, device: str | None
                  ) -> RayEncoding | None:
    """The Ray cluster's encoding step that --ray asks for (None: encode on this machine)."""
    if address is None:
        if cpus is not None or gpus is not None:
            raise LexirError("--cpus-per-worker and --gpus-per-worker are for --ray builds; give --ray ADDRESS too")
        return None
    from lexir.distributed.cluster import import_ray
    from lexir.distributed.encoding import RayEncoding

    import_ray()  # a missing extra is said before the corpus is read
    return RayEncoding(address, workers, 1.0 if cpus is None else cpus, gpus or 0.0, device)


@index_app.command("add-dense")
def index_add_dense(
    index: Annotated[Path, typer.Argument(help="index directory")],
    encoder: Annotated[str, typer.Option(help="dense encoder: minilm, or a sentence-embedding hub id or folder")]
    = "minilm",
    dense_index: Annotated[str, typer.Option(help=f"FAISS type: {DENSE_INDEX_HELP}")] = "flat",
    batch_size: Annotated[int | None, typer.Option(help="texts per forward pass")] = None,
    max_length: Annotated[int | None, typer.Option(help="token limit (default: the model's own)")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's choice)")] = None,
    device: DeviceOption = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing dense side")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Encode an index's stored documents with a dense encoder and add a FAISS side to it."""
    from lexir.encoders.device import resolve_device
    from lexir.encoders.registry import create_dense_encoder
    from lexir.index.faiss_types import FaissType

    faiss_type = FaissType.parse(dense_index)
    dense_encoder = create_dense_encoder(encoder, batch_size=batch_size, max_length=max_length, threads=threads,
                                         device=device)
    if device is not None:
        resolve_device(device)  # a GPU this machine lacks is said before the index is touched
    _add_dense(index, dense_encoder, faiss_type, overwrite=overwrite, progress=not quiet)


def _add_dense(index: Path, encoder: DenseEncoder, faiss_type: FaissType, *, overwrite: bool, progress: bool
               ) -> None:
    """A dense side for an index, or for every shard of a sharded one."""
    from lexir.index.dense_builder import add_dense
    from lexir.index.sharded import is_sharded
    from lexir.index.sharded_ops import add_dense_sharded

    if is_sharded(index):
        for report in add_dense_sharded(index, encoder, faiss_type=faiss_type, overwrite=overwrite,
                                        progress=progress):
            _print_dense_report(report)
    else:
        _print_dense_report(add_dense(index, encoder, faiss_type=faiss_type, overwrite=overwrite, progress=progress))


def _print_dense_report(report: DenseBuildReport) -> None:
    console.print(
        f"added a dense side ({report.count:,} vectors of {report.dim} dims, {report.faiss_type}) at {report.path}: "
        f"{report.docs_per_second:,.1f} docs/s encoding, {report.seconds:.1f} s in all, "
        f"{report.dense_bytes / 2**20:.1f} MiB"
    )


@index_app.command("idf")
def index_idf(
    source: Annotated[str, typer.Argument(help="ir_datasets id (beir/nfcorpus), BEIR folder, or JSONL(.gz) file")],
    out: Annotated[Path, typer.Option("--out", "-o", help="idf.json file to write")],
    encoder: Annotated[str, typer.Option(help="model whose tokenizer counts the tokens (registry name, hub id or "
                                              "folder)")] = "splade-tiny",
    skip_bad_lines: Annotated[bool, typer.Option(help="skip malformed JSONL lines instead of stopping")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Write the text IDF of a corpus as an OpenSearch idf.json, for inference-free query weighting
    (`--query-option idf=FILE`): document frequencies of the tokens of the texts, not of the expanded vectors."""
    from tqdm import tqdm

    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.encoders.hf import load_fast_tokenizer
    from lexir.encoders.idf import text_idf_table
    from lexir.files import write_text_atomic

    folder = getattr(create_encoder(encoder), "model_folder", None)
    if folder is None:
        raise LexirError(f"encoder '{encoder}' has no model tokenizer; give a masked-LM model (e.g. splade-tiny)")
    corpus = Corpus(source, skip_bad_lines=skip_bad_lines)
    texts = (document.contents for document in tqdm(corpus, desc="counting tokens", unit="doc", disable=quiet))
    table = text_idf_table(load_fast_tokenizer(folder), texts)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(table, ensure_ascii=False))
    console.print(f"wrote the IDF of {len(table):,} tokens to {out}")


@index_app.command("info")
def index_info(
    index: Annotated[Path, typer.Argument(help="index directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print the manifest as JSON")] = False,
) -> None:
    """Show an index's manifest and size (and its dense side's manifest, if it has one)."""
    from lexir.index import InvertedIndex
    from lexir.index.dense import has_dense, read_dense_manifest
    from lexir.index.sharded import is_sharded
    from lexir.index.sharded_ops import sharded_info

    if is_sharded(index):
        manifest = sharded_info(index)
    else:
        opened = InvertedIndex(index)
        manifest = opened.manifest.to_dict()
        manifest["index_bytes"] = opened.size_bytes()
        if has_dense(index):
            manifest["dense"] = read_dense_manifest(index).to_dict()
    if as_json:
        stdout.print_json(json.dumps(manifest))
        return
    table = Table(title=str(index), show_header=False)
    for key, value in manifest.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    stdout.print(table)


@index_app.command("check")
def index_check(
    index: Annotated[Path, typer.Argument(help="index directory")],
    quick: Annotated[bool, typer.Option(help="only what opening checks (sizes, headers, offsets), not every byte")]
    = False,
) -> None:
    """Verify an index, its live segments and dense sides: every file against its recorded checksum and every
    posting against the manifest (exit 1, naming each damaged file, if anything is wrong)."""
    stdout.print(_checked(index, full=not quick).summary(), highlight=False, soft_wrap=True)


def _checked(index: Path, *, full: bool) -> IndexCheck | ShardedCheck:
    """check_index, or for a sharded index every shard's."""
    from lexir.index.check import check_index
    from lexir.index.sharded import is_sharded
    from lexir.index.sharded_ops import check_sharded

    return check_sharded(index, full=full) if is_sharded(index) else check_index(index, full=full)


@index_app.command("upgrade")
def index_upgrade(
    index: Annotated[Path, typer.Argument(help="index directory")],
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Convert an index of an earlier format version (its base and every live segment) to the current one, in
    place: version 1's uncompressed postings become version 2's compressed blocks."""
    from lexir.index.format import FORMAT_VERSION
    from lexir.index.upgrade import upgrade_index

    converted = upgrade_index(index, progress=progress)
    if converted:
        stdout.print(f"{index}: {len(converted)} part(s) converted to format version {FORMAT_VERSION}", highlight=False,
                     soft_wrap=True)
    else:
        stdout.print(f"{index}: already format version {FORMAT_VERSION}", highlight=False, soft_wrap=True)


@index_app.command("export")
def index_export(
    index: Annotated[Path, typer.Argument(help="index directory")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonvector (Pyserini JsonVectorCollection, "
                                        "*.jsonl[.gz]), ciff (*.ciff, for PISA and BMP) or opensearch (a folder: "
                                        "_bulk NDJSON, index body, idf.json)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="file (jsonvector, ciff) or folder (opensearch) to write")],
    opensearch_field: Annotated[str | None, typer.Option(help="opensearch: the vector field type, rank_features "
                                                              "(token strings, exact; the default) or sparse_vector "
                                                              "(token ids, SEISMIC)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing export")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Write an index's documents and quantized impacts in a format other engines read."""
    from lexir.export import export_index

    report = export_index(index, fmt, out, field_type=opensearch_field, overwrite=overwrite, progress=not quiet)
    console.print(f"exported {report.num_docs:,} documents ({report.num_postings:,} postings) as {report.format} to "
                  f"{report.path}: {report.bytes / 2**20:.1f} MiB in {report.seconds:.1f} s", highlight=False)


@app.command("search")
@with_search_options
def search(
    index: Annotated[Path, typer.Argument(help="index directory")],
    query: Annotated[str | None, typer.Argument(help="query text (or --topics for a batch of queries)")] = None,
    query_vector: Annotated[str | None, typer.Option(
        help="a pre-encoded query, JSON {\"token\": weight, ...}, searched in place of a text")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="number of hits (per query)")] = 10,
    explain: Annotated[bool, typer.Option(help="show each query term's part of every score")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    text: Annotated[bool, typer.Option(help="include document titles and texts")] = False,
    topics: Annotated[str | None, typer.Option(
        help="search every query of TOPICS (an ir_datasets id such as beir/nfcorpus/test, a BEIR queries.jsonl, "
             "or a TSV of id<TAB>text) and write a TREC run file to --out")] = None,
    queries: Annotated[Path | None, typer.Option(
        help="search every pre-encoded query of this file (JSONL of {\"id\", \"vector\"} lines, or Pyserini's TSV "
             "of id<TAB>tok tok tok) and write a TREC run file to --out")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="the run file --topics (--queries) writes")] = None,
    history: Annotated[Path | None, typer.Option(
        help="a conversation, JSON list of {\"role\": \"user\"|\"assistant\", \"text\"} turns, oldest first: "
             "the query is the current question after them (or, with no query, the file's last user turn); "
             "searched flattened as DiSCo does")] = None,
    history_turns: Annotated[int, typer.Option(help="--history (and conversational --topics): earlier turns "
                                                    "kept, newest first")] = DEFAULT_MAX_HISTORY,
    threads: Annotated[int | None, typer.Option(help="--topics: threads for scoring (and model encoding)")] = None,
    drop_self_hits: Annotated[bool | None, typer.Option(
        "--drop-self-hits/--keep-self-hits",
        help="--topics: drop a hit whose id equals the query id (default: on for BEIR ids, as lexir eval does)")]
    = None,
    quiet: Annotated[bool, typer.Option(help="--topics: no progress bar")] = False,
    device: DeviceOption = None,
    search_options: SearchOptions = SearchOptions(),
) -> None:
    """Search an index with its own encoder(s): sparse, dense, or both fused (--mode hybrid); one query, or
    every query of --topics into a TREC run file."""
    from lexir.encoders.pieces import readable
    from lexir.search import open_search
    from lexir.search.conversation import conversation_query

    if sum(given is not None for given in (query, query_vector, topics, queries)) > 1:
        raise LexirError("give one of a query, --query-vector, --topics or --queries, not both")
    if history is not None and (query_vector is not None or topics is not None or queries is not None):
        raise LexirError("--history goes with a text query (or none: the file's last user turn), not with "
                         "--query-vector, --topics or --queries")
    if topics is not None or queries is not None:
        if out is None:
            raise LexirError(f"{'--topics' if topics else '--queries'} writes a TREC run file: give --out FILE "
                             "(e.g. --out run.trec)")
        _search_topics(open_search(index, search_options, device=device), _topics(topics, queries), out, k, threads,
                       drop_self_hits, quiet, history_turns)
        return
    if query is None and query_vector is None and history is None:
        raise LexirError("give a query (e.g. lexir search INDEX \"vitamin d\"), --query-vector '{\"token\": weight}', "
                         "--history FILE, or --topics TOPICS --out run.trec")
    vector = parse_query_vector(query_vector) if query_vector is not None else None  # checked before the index
    searcher = open_search(index, search_options, device=device)
    if history is not None:
        query = conversation_query(searcher, _conversation(history, query), history_turns)
    result = searcher.search(vector if vector is not None else query, k=k, explain=explain,
                             with_text=text or not as_json)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    table = Table(title=f"{query_vector or query!r}: {len(result.hits)} hits in {result.took_ms:.1f} ms")
    for column in ("rank", "id", "score", "title"):
        table.add_column(column)
    if explain:
        table.add_column("matched terms")
    for hit in result.hits:
        row = [str(hit.rank), hit.id, f"{hit.score:.4f}", (hit.title or hit.text or "")[:70]]
        if explain:
            row.append(", ".join(f"{readable(t)} {v:.2f}" for t, v in list((hit.contributions or {}).items())[:6]))
        table.add_row(*row)
    stdout.print(table)


def parse_query_vector(text: str) -> dict[str, float]:
    """--query-vector's JSON {token: weight} map, checked as a JsonVectorCollection vector is."""
    from lexir.corpus import BadLine
    from lexir.formats.jsonvector import checked_vector

    try:
        return checked_vector(json.loads(text))
    except json.JSONDecodeError as error:
        raise LexirError(f"--query-vector is not JSON ({error.msg}); give {{\"token\": weight, ...}}") from None
    except BadLine as error:
        raise LexirError(f"--query-vector: {error}") from None


def _topics(topics: str | None, queries: Path | None) -> tuple[list[Topic], bool]:
    """The topics of --topics (texts) or --queries (pre-encoded), and whether they are BEIR's."""
    from lexir.eval.datasets import Topic, load_topics
    from lexir.formats.topics import read_query_vectors

    if topics is not None:
        return load_topics(topics)
    assert queries is not None
    return [Topic(query_id, "", vector) for query_id, vector in read_query_vectors(queries).items()], False


def _conversation(path: Path, query: str | None) -> list[Turn]:
    """The turns of a --history file, with the query (if any) as the current question after them."""
    from lexir.search.conversation import Turn, parse_conversation

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise LexirError(f"cannot read --history {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LexirError(f"--history {path} is not JSON ({error})") from None
    turns = list(parse_conversation(data, f"--history {path}"))
    return turns + [Turn("user", query)] if query is not None else turns


def _search_topics(searcher: Searcher, topics: tuple[list[Topic], bool], out: Path, k: int, threads: int | None,
                   drop_self_hits: bool | None, quiet: bool, history_turns: int) -> None:
    """Every query of `topics` into a TREC run file, as `lexir eval` ranks them (conversations flattened)."""
    import time

    from lexir.eval.results import write_trec_run
    from lexir.eval.runs import search_topics
    from lexir.search.conversation import flatten_topics

    loaded, beir = topics
    loaded = flatten_topics(loaded, searcher, history_turns)
    drop = beir if drop_self_hits is None else drop_self_hits
    searcher.warm_up()
    if threads is not None:
        _use_threads(threads)
    started = time.perf_counter()
    run = search_topics(searcher, loaded, k, drop, progress=not quiet)
    seconds = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    write_trec_run(run, out)
    console.print(f"searched {len(loaded):,} queries in {seconds:.1f} s ({len(loaded) / max(seconds, 1e-9):,.1f} "
                  f"queries/s) and wrote {out}")


def _use_threads(threads: int) -> None:
    """Scoring threads (numba) and, where a model encodes queries (torch is loaded by then), its threads."""
    import numba

    if threads < 1:
        raise LexirError(f"threads must be at least 1, got {threads}")
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


@index_app.command("merge")
def index_merge(index: Annotated[Path, typer.Argument(help="index directory")]) -> None:
    """Fold the segments that live updates added into one (deleted documents are dropped)."""
    from lexir.index.live import LiveIndex
    from lexir.index.sharded import is_sharded
    from lexir.index.sharded_ops import merge_sharded

    # waits for any other writer, another merge too
    merged = merge_sharded(index) if is_sharded(index) else {"": LiveIndex(index).merge_commits()}
    for name, (before, after) in merged.items():
        shard = f"{name}: " if name else ""
        if after == before:
            console.print(f"{shard}nothing to merge: {len(after.segments)} segment(s) (commit {after.generation})")
        else:
            console.print(f"{shard}merged {len(before.segments)} segments into {len(after.segments)} "
                          f"(commit {after.generation})")


SERVE_HELP = "\n\n".join([
    "Serve an index over HTTP: search, documents, stats, and a search page at /.",
    "Writes (POST /documents, DELETE /documents/ID) need the API key, and without one they are disabled; /stats "
    "needs it whenever the server has one; --keys-for-reads makes searches and GET /documents need it too. Give "
    "the key as LEXIR_API_KEY or in a file (--api-key-file): --api-key on the command line is visible to every "
    "user of the machine (ps). The key is checked before a request's body is read.",
    "Limits (past them a JSON 413 or 422, before the work): {limits}.",
])


@app.command("serve", help=SERVE_HELP.format(limits=Limits().describe()))
def serve(
    ctx: typer.Context,
    index: Annotated[Path, typer.Argument(help="index directory")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    api_key: Annotated[str | None, typer.Option(
        envvar="LEXIR_API_KEY", show_envvar=True,
        help="key that writes and /stats require (without one writes are disabled); prefer the LEXIR_API_KEY "
             "environment variable or --api-key-file")] = None,
    api_key_file: Annotated[Path | None, typer.Option(
        help="read the API key from this file (its first line)", exists=True, dir_okay=False)] = None,
    keys_for_reads: Annotated[bool, typer.Option(help="require the API key for reads too")] = False,
    cors_origin: Annotated[list[str] | None, typer.Option(help="allow browser calls from this origin (repeatable)")]
    = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    max_request_bytes: Annotated[int, typer.Option(
        help="largest request body accepted, checked while it is read (413 past it)")] = DEFAULT_MAX_REQUEST_BYTES,
    allow_partial: Annotated[bool, typer.Option(
        help="a sharded index: answer with the shards that are up (partial: true) instead of a 503")] = False,
    preset: Annotated[str | None, typer.Option(
        help="a named configuration from lexir/presets.toml (e.g. offline-best): its search options are every "
             "request's defaults (a request's own settings override them)")] = None,
    ray: Annotated[str | None, typer.Option(help="a sharded index: serve its shards as Ray Serve deployments on "
                                                 "this cluster (auto, the head's host:port, or local)")] = None,
    replicas: Annotated[int, typer.Option(help="--ray: replicas of each shard's deployment")] = 1,
    cpus_per_replica: Annotated[float, typer.Option(help="--ray: CPUs each replica reserves")] = 1.0,
    device: DeviceOption = None,
) -> None:
    import uvicorn

    from lexir.api.app import ENV_PREFIX

    if not allow_partial:  # a damaged index is refused in one line before any worker starts (cheap: no postings read)
        _checked(index, full=False)
    if workers < 1:
        raise LexirError(f"workers must be at least 1, got {workers}")
    if device is not None:
        from lexir.encoders.device import resolve_device

        resolve_device(device)  # a GPU this machine lacks is said before any worker starts
    if max_request_bytes < 1024:
        raise LexirError(f"--max-request-bytes must be at least 1024, got {max_request_bytes}")
    if preset is not None:
        from lexir.index.sharded import is_sharded
        from lexir.index.sharded_ops import has_dense_side
        from lexir.presets import load_preset, warn_index_differences

        chosen = load_preset(preset)
        warn_index_differences(chosen, index)
        if chosen.dense is not None and not has_dense_side(index):
            raise LexirError(f"the preset {preset} searches a dense side, which {index} lacks: build the index with "
                             f"`lexir index build SOURCE --preset {preset}` (or `lexir index add-dense`)")
        if is_sharded(index) and (chosen.options.prf is not None or chosen.options.dense_prf is not None):
            raise LexirError(f"the preset {preset} uses pseudo-relevance feedback, which a sharded index does not "
                             "offer; serve it without --preset, or give the search options without feedback")
    if api_key_file is not None:
        if api_key is not None:
            raise LexirError("give the API key once: --api-key-file, or --api-key / LEXIR_API_KEY")
        lines = api_key_file.read_text(encoding="utf-8").splitlines()
        api_key = lines[0].strip() if lines else ""
        if not api_key:
            raise LexirError(f"the API key file {api_key_file} is empty")
    elif api_key is not None and getattr(ctx.get_parameter_source("api_key"), "name", "") == "COMMANDLINE":
        console.print("[yellow]warning:[/yellow] --api-key on the command line is visible to other users (ps); "
                      "use LEXIR_API_KEY or --api-key-file", highlight=False)
    os.environ[f"{ENV_PREFIX}INDEX"] = str(index.resolve())
    os.environ[f"{ENV_PREFIX}KEYS_FOR_READS"] = "1" if keys_for_reads else "0"
    os.environ[f"{ENV_PREFIX}CORS"] = ",".join(cors_origin or [])
    os.environ[f"{ENV_PREFIX}MAX_REQUEST_BYTES"] = str(max_request_bytes)
    os.environ[f"{ENV_PREFIX}ALLOW_PARTIAL"] = "1" if allow_partial else "0"
    os.environ[f"{ENV_PREFIX}PRESET"] = preset or ""
    os.environ[f"{ENV_PREFIX}DEVICE"] = device or ""
    if api_key:
        os.environ["LEXIR_API_KEY"] = api_key
    # request threads each search in their own thread; OpenMP threads (batched scoring, torch) that spin while
    # they wait would take the cores from them
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # keep-alive past the 5 s idle expiry of common client pools (httpx, requests), so that a client never sends
    # on a connection the server is closing at that moment
    if ray is None:
        if replicas != 1 or cpus_per_replica != 1.0:
            raise LexirError("--replicas and --cpus-per-replica are for Ray Serve; give --ray ADDRESS too")
        uvicorn.run("lexir.api.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", timeout_keep_alive=KEEP_ALIVE_SECONDS)
        return
    from lexir.api.app import app_from_environment
    from lexir.distributed.serve import deploy_shards, undeploy_shards

    if workers != 1:
        raise LexirError("--ray serves through one front process (its shards scale with --replicas); drop --workers")
    shards = deploy_shards(index, ray, replicas=replicas, cpus_per_replica=cpus_per_replica)
    try:
        uvicorn.run(app_from_environment(shards), host=host, port=port, log_level="warning",
                    timeout_keep_alive=KEEP_ALIVE_SECONDS)
    finally:
        undeploy_shards(index)


def main() -> None:
    """Entry point: run the app, turning user errors into one line on stderr.

    The CLI shows warnings and errors only (LEXIR_LOG_LEVEL=INFO shows more): ir_datasets sets its own loggers
    to INFO when it first uses them, and their lines would break up lexir's progress bars.
    """
    level = logging.getLevelName(os.environ.get(LOG_LEVEL_ENV, "WARNING").upper())
    logging.basicConfig(level=level if isinstance(level, int) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        logging.disable(logging.INFO)
    _mount_optional_apps()
    try:
        app()
    except LexirError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)  # [...] kept
        sys.exit(1)
