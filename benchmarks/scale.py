"""Scale: lexir against PISA, BMP and Seismic on an MS MARCO-shaped corpus of resampled real SPLADE vectors.

    python benchmarks/scale.py --quick     # 1M documents, lexir and PISA (exact engines) only
    python benchmarks/scale.py             # 1M documents, every engine
    python benchmarks/scale.py --full      # 1M, then 8.8M documents (about 1B postings)

The corpus (benchmarks/scale_corpus.py) resamples real SPLADE-tiny document vectors of IMDB reviews and
NFCorpus, pruned to ~115 postings a document as in MS MARCO, and perturbs them; ~1,000 queries likewise
from NFCorpus and Cranfield query vectors. It is written as Pyserini JsonVectorCollection (integer weights
round(100 w), at most 255) and every engine builds from that file: lexir with `python -m lexir index build
FILE --out DIR`, PISA with pyterrier-pisa's toks indexer and its compression, BMP with its indexer, Seismic
from its dataset API. Each build runs as its own process: wall time, and peak RSS of its process tree
(psutil polling and /usr/bin/time -v where present, the larger); an anchor's build that passes
--memory-limit is stopped and reported as not built within the machine. Latency is single-threaded top-10,
per query, the best of --passes passes with engines taking turns (benchmarks/query_speed.py); recall@10 is
against lexir's exhaustive (exact) top-10, and approximate engines are compared at matched recall.
Every size ends with the line `scale SIZE: lexir/PISA index bytes X, latency Y, peak RSS Z GiB`
(X, Y: ratios lexir/PISA, the latency of lexir auto over that of PISA's fastest exact algorithm; Z: lexir's
build peak RSS). Vectors, corpora and results are cached under --data-dir; indexes are deleted afterwards
unless --keep-indexes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchors  # noqa: E402
import query_speed  # noqa: E402
import scale_corpus  # noqa: E402
import scale_vectors  # noqa: E402

SIZES = {"1M": 1_000_000, "8.8M": 8_841_823}  # MS MARCO passage v1 has 8,841,823 passages
WORKER = Path(__file__).resolve().parent / "scale_engines.py"
GIB = 2**30


@dataclass
class Run:
    """One measured process: wall seconds, peak RSS of its process tree, exit status, and whether it was
    stopped for passing the memory limit."""

    seconds: float
    peak_rss: int
    returncode: int
    over_limit: bool


def measured(command: list[str], log: Path, memory_limit: int) -> Run:
    """Run `command` (output to `log`), polling its process tree's RSS every 0.1 s; stop it past the limit."""
    timed = Path(tempfile.mkstemp(prefix="scale-time-")[1])
    wrapper = ["/usr/bin/time", "-v", "-o", str(timed)] if Path("/usr/bin/time").exists() else []
    began = time.perf_counter()
    peak, over = 0, False
    with open(log, "ab") as output:
        process = subprocess.Popen(wrapper + command, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        root = psutil.Process(process.pid)
        while process.poll() is None:
            peak = max(peak, _tree_rss(root))
            if peak > memory_limit:
                over = True
                os.killpg(process.pid, 9)
                process.wait()
                break
            time.sleep(0.1)
    seconds = time.perf_counter() - began
    peak = max(peak, _time_peak(timed))
    timed.unlink(missing_ok=True)
    return Run(seconds, peak, process.returncode, over)


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        for process in [root, *root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def _time_peak(path: Path) -> int:
    """/usr/bin/time -v's 'Maximum resident set size' (of the largest process it waited for), in bytes."""
    if not path.is_file():
        return 0
    for line in path.read_text().splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1]) * 1024
    return 0


def prepare(data_dir: Path, label: str, shape: scale_corpus.Shape, imdb_docs: int) -> tuple[Path, Path, Path]:
    """The corpus, query file and vocabulary for `shape` (generated when missing or made with other settings)."""
    corpus = data_dir / f"scale-{label}-seed{shape.seed}.jsonl.gz"
    queries = data_dir / f"scale-queries-{shape.num_queries}-seed{shape.seed}.jsonl"
    vocabulary = data_dir / "splade-tiny-tokens.json"
    stats = corpus.with_name(corpus.name + ".json")
    recorded = json.loads(stats.read_text()) if stats.is_file() else {}
    wanted = {**vars(shape), "imdb_docs": imdb_docs}
    if not corpus.is_file() or not queries.is_file() or recorded.get("shape") != wanted:
        real = scale_vectors.real_vectors(data_dir, imdb_docs)
        vocabulary.write_text(json.dumps(real.tokens))
        print(f"real vectors: {real.documents.shape[0]:,} documents ({real.documents.nnz / real.documents.shape[0]:.0f}"
              f" terms each), {real.queries.shape[0]:,} queries", flush=True)
        print(scale_corpus.write_queries(queries, real.queries, real.documents, real.tokens, shape), flush=True)
        scale_corpus.write_corpus(corpus, real.documents, real.tokens, shape)
        recorded = json.loads(stats.read_text())
        recorded["shape"] = wanted
        stats.write_text(json.dumps(recorded, indent=1))
    print(f"corpus {corpus}: {recorded['documents']:,} documents, {recorded['postings']:,} postings "
          f"({recorded['postings_per_doc']:.1f} a document)", flush=True)
    return corpus, queries, vocabulary


def build_all(corpus: Path, vocabulary: Path, folder: Path, logs: Path, engines: list[str],
              args: argparse.Namespace) -> dict:
    """Build each engine in its own measured process (output to logs/ENGINE.log); returns {engine: build row}."""
    python = sys.executable
    commands = {
        "lexir": [python, "-m", "lexir", "index", "build", str(corpus), "--out", str(folder / "lexir"),
                  *shlex.split(args.lexir_options)],
        **{engine: [python, str(WORKER), "build", engine, str(corpus), str(folder / engine), "--vocabulary",
                    str(vocabulary)] for engine in ("pisa", "bmp", "seismic")},
    }
    if args.seismic_postings:
        commands["seismic"] += ["--seismic-postings", str(args.seismic_postings)]
    previous = json.loads(args.results.read_text())["built"] if args.reuse and args.results.is_file() else {}
    built = {}
    to_build = []
    for engine in engines:
        earlier = previous.get(engine, {})
        if earlier.get("built") and earlier.get("command") == commands[engine] and (folder / engine).is_dir():
            built[engine] = earlier  # kept by an earlier run with --keep-indexes, same command: its measured build
            print(f"{engine}: reusing the index built by an earlier run ({previous[engine]['build_s']:.0f} s)",
                  flush=True)
        else:
            to_build.append(engine)

    def build(engine: str) -> dict:
        shutil.rmtree(folder / engine, ignore_errors=True)
        run = measured(commands[engine], logs / f"{engine}.log", int(args.memory_limit * GIB))
        row = {"build_s": run.seconds, "peak_rss": run.peak_rss, "built": run.returncode == 0 and not run.over_limit,
               "command": commands[engine], "side_by_side": args.parallel_builds and len(to_build) > 1}
        if run.over_limit:
            row["note"] = f"stopped: its build passed {args.memory_limit} GiB of RSS"
        elif run.returncode != 0:
            row["note"] = f"build failed (exit {run.returncode}); see {logs / f'{engine}.log'}"
        else:
            target = folder / engine
            row["index_bytes"] = anchors.pisa_index_bytes(target) if engine == "pisa" else anchors.folder_bytes(target)
        print(f"{engine}: built in {run.seconds:.0f} s, peak RSS {run.peak_rss / GIB:.2f} GiB"
              + (f", {row['index_bytes'] / GIB:.3f} GiB on disk" if "index_bytes" in row else f" ({row['note']})"),
              flush=True)
        return row

    print(f"building {', '.join(to_build) or 'nothing'}" + (" side by side" if args.parallel_builds else ""),
          flush=True)
    with ThreadPoolExecutor(max_workers=len(to_build) if args.parallel_builds else 1) as pool:
        for engine, row in zip(to_build, pool.map(build, to_build)):
            built[engine] = row
    return built


def search_all(queries: Path, vocabulary: Path, folder: Path, logs: Path, built: dict, num_docs: int,
               args: argparse.Namespace) -> list[dict]:
    """Time every built engine's configurations in one worker process (engines take turns)."""
    out = folder / "search.json"
    command = [sys.executable, str(WORKER), "search", str(queries), str(out), "--vocabulary", str(vocabulary),
               "--num-docs", str(num_docs), "--passes", str(args.passes)]
    if args.seismic_postings:
        command += ["--seismic-postings", str(args.seismic_postings)]
    for engine, row in built.items():
        if row["built"]:
            command += [f"--{engine}", str(folder / engine)]
    print("timing queries ...", flush=True)
    with open(logs / "search.log", "ab") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    rows = json.loads(out.read_text())
    for row in rows:
        row["results"] = [(np.array(docs, dtype=np.int64), np.array(scores)) for docs, scores in row["results"]]
    return rows


def family(name: str) -> str:
    return name.split()[0].lower()


def report(label: str, rows: list[dict], built: dict, target_recall: float) -> tuple[str, str]:
    """The table of one size with the approximate engines at matched recall, and its summary line."""
    reference = "lexir exhaustive" if any(r["engine"] == "lexir exhaustive" for r in rows) else "PISA ranked_or"
    query_speed.compare_to_exact(rows, reference)
    lines = [f"recall@10 and same top-10 against {reference}", "",
             "| engine | mean ms | p50 ms | p99 ms | recall@10 | same top-10 docs | build s | build peak RSS GiB "
             "| index GiB |", "|" + "---|" * 9]
    for r in rows:
        b = built[family(r["engine"])]
        lines.append(f"| {r['engine']} | {r['mean_ms']:.3f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{r['recall@10']:.4f} | {r['same_top10_docs']:.3f} | {b['build_s']:.0f} | "
                     f"{b['peak_rss'] / GIB:.2f} | {b['index_bytes'] / GIB:.3f} |")
    for engine, b in built.items():
        if not b["built"]:
            lines.append(f"| {engine} | not built: {b['note']} | | | | | {b['build_s']:.0f} | "
                         f"{b['peak_rss'] / GIB:.2f} | |")
    lines.append("")
    for name in ("BMP", "Seismic"):
        matched = [r for r in rows if r["engine"].startswith(name) and r["recall@10"] >= target_recall]
        if any(r["engine"].startswith(name) for r in rows):
            best = min(matched, key=lambda r: r["mean_ms"], default=None)
            lines.append(f"{name} at recall@10 >= {target_recall}: " + (
                f"{best['mean_ms']:.3f} ms mean, {best['p99_ms']:.3f} ms p99 ({best['engine']})" if best
                else "no configuration reached it"))
    lexir = next((r for r in rows if r["engine"] == "lexir auto"), None)
    pisa = query_speed.fastest_pisa(rows)
    if not (lexir and pisa):
        return "\n".join(lines), f"scale {label}: lexir/PISA n/a ({'PISA' if lexir else 'lexir'} was not measured)"
    lines.append(f"fastest PISA algorithm: {pisa['engine']}")
    index_ratio = built["lexir"]["index_bytes"] / built["pisa"]["index_bytes"]
    latency_ratio, peak = lexir["mean_ms"] / pisa["mean_ms"], built["lexir"]["peak_rss"] / GIB
    return "\n".join(lines), (f"scale {label}: lexir/PISA index bytes {index_ratio:.2f}, latency {latency_ratio:.2f}, "
                              f"peak RSS {peak:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M documents, lexir and PISA only")
    parser.add_argument("--full", action="store_true", help="1M and 8.8M documents")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), help="only these sizes (e.g. --sizes 8.8M)")
    parser.add_argument("--data-dir", type=Path, default=Path.home() / ".cache" / "lexir-scale",
                        help="real vectors, generated corpora, indexes and results (default ~/.cache/lexir-scale)")
    parser.add_argument("--imdb-docs", type=int, default=20_000,
                        help="IMDB reviews to encode: a seeded random sample of the 100k (SPLADE-tiny encodes ~30 a "
                             "second on 2 cores; 20k, plus NFCorpus, give each real vector ~40 resamples at 1M)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--passes", type=int, default=2, help="timed passes per engine (best per query)")
    parser.add_argument("--engines", nargs="*", default=["lexir", "pisa", "bmp", "seismic"])
    parser.add_argument("--lexir-options", default="", help="extra options for `lexir index build`")
    parser.add_argument("--seismic-postings", type=int, help="Seismic's n_postings (default: 3,500 scaled from "
                        "8.8M documents to the corpus, at least 500)")
    parser.add_argument("--memory-limit", type=float, default=12.0, help="GiB of RSS at which a build is stopped")
    parser.add_argument("--target-recall", type=float, default=0.95, help="recall@10 the approximate engines match")
    parser.add_argument("--keep-indexes", action="store_true")
    parser.add_argument("--parallel-builds", action="store_true",
                        help="build the engines side by side (each its own measured process; wall times then share "
                             "the cores, peak RSS stays per build)")
    parser.add_argument("--num-docs", type=int, help="one corpus of this many documents instead (smoke runs)")
    parser.add_argument("--reuse", action="store_true",
                        help="search the indexes an earlier run kept (--keep-indexes) instead of building them again, "
                             "where they were built by the same command")
    args = parser.parse_args()
    engines = [e for e in args.engines if not args.quick or e in ("lexir", "pisa")]
    sizes = {str(args.num_docs): args.num_docs} if args.num_docs else SIZES
    labels = args.sizes or (list(sizes) if args.full or args.num_docs else ["1M"])
    args.data_dir.mkdir(parents=True, exist_ok=True)
    print(f"scale, {time.strftime('%Y-%m-%d %H:%M')}, {query_speed.machine()}; engines {', '.join(engines)}",
          flush=True)
    summaries = []
    for label in labels:
        shape = scale_corpus.Shape(num_docs=sizes[label], num_queries=args.queries, seed=args.seed)
        corpus, queries, vocabulary = prepare(args.data_dir, label, shape, args.imdb_docs)
        folder, logs = args.data_dir / f"indexes-{label}", args.data_dir / f"logs-{label}"
        folder.mkdir(exist_ok=True)
        logs.mkdir(exist_ok=True)
        args.results = args.data_dir / f"scale-{label}.json"
        try:
            built = build_all(corpus, vocabulary, folder, logs, engines, args)
            rows = search_all(queries, vocabulary, folder, logs, built, shape.num_docs, args)
            text, summary = report(label, rows, built, args.target_recall)
        finally:
            if not args.keep_indexes:
                shutil.rmtree(folder, ignore_errors=True)
        print(f"\n### {label} documents\n\n{text}\n", flush=True)
        for row in rows:
            row.pop("results")
        args.results.write_text(json.dumps({"built": built, "rows": rows}, indent=1))
        summaries.append(summary)
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
