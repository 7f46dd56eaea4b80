"""Query speed: lexir's exact algorithms against PISA, Pyserini, Seismic, BMP and scipy on the same vectors.

    python benchmarks/query_speed.py --quick    # nfcorpus, lexir + PISA + scipy, under two minutes
    python benchmarks/query_speed.py            # every vector set and engine (long: see docs/benchmarks.md)

Every engine indexes the same 8-bit impacts and gets the same integer query weights (each query scaled so
its largest weight is 255), so exact engines must agree on the top-10. Latency is single-threaded, per
query, the best of --passes passes (engines take turns, in a rotating order, so that load from other
processes hits them alike); batch QPS uses 2 threads. Only ratios within one run are meaningful.
The last line printed is `lexir/PISA mean latency ratio: X`: lexir auto's mean latency over that of the
fastest PISA algorithm (geometric mean over the sets of the run).

Anchor engines are optional (`pip install -e '.[bench]'`, in a separate virtual environment): one whose
package is missing is skipped with a line that says so, and lexir's own algorithms are still measured.
The quick-start index the nfcorpus set reads is built first when it is missing.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchors  # noqa: E402
import speed_data  # noqa: E402

K = 10
THREADS = 2
logger = logging.getLogger("query_speed")


def integer_documents(documents: sp.csr_matrix) -> sp.csr_matrix:
    """8-bit impacts as lexir quantizes them (one global linear scale), kept as integer-valued floats."""
    from lexir.index.quantize import Quantizer

    documents = sp.csr_matrix(documents, dtype=np.float32)
    documents.eliminate_zeros()
    if np.all(documents.data == np.rint(documents.data)) and documents.data.max() <= 255:
        return documents  # already quantized (an existing index's impacts)
    quantizer = Quantizer.fit(float(documents.data.max()), 8)
    documents.data = quantizer.quantize(documents.data).astype(np.float32)
    return documents


def integer_queries(queries: sp.csr_matrix) -> sp.csr_matrix:
    """Integer query weights for every engine: each row scaled so its largest weight is 255 (rounded)."""
    queries = sp.csr_matrix(queries, dtype=np.float32)
    queries.eliminate_zeros()
    lengths = np.diff(queries.indptr)
    keep_rows = np.flatnonzero(lengths > 0)
    queries = queries[keep_rows]
    if not np.all(queries.data == np.rint(queries.data)):
        row_max = np.maximum.reduceat(queries.data, queries.indptr[:-1])
        queries.data = np.rint(queries.data / np.repeat(row_max, np.diff(queries.indptr)) * 255).astype(np.float32)
        queries.eliminate_zeros()
    return queries


def rss_bytes() -> int:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS"))


def engines_for(set_name: str, scale: int, core: bool) -> list[anchors.Engine]:
    """The engines run on one set: all of them up to 100k documents, the fast ones beyond."""
    lexir, pisa, seismic, bmp = {}, {}, {}, {}
    engines: list[anchors.Engine] = [anchors.Lexir(a, shared=lexir) for a in ("exhaustive", "maxscore",
                                                                              "block_max_maxscore", "auto")]
    engines += [anchors.Pisa(a, pisa) for a in ("block_max_wand", "maxscore", "block_max_maxscore")]
    engines.append(anchors.ScipyBruteForce())
    if core:
        return engines
    engines += [anchors.Lexir("auto", query_cut=c, shared=lexir) for c in (8, 16, 24, 32)]
    engines += [anchors.Lexir("maxscore", h, shared=lexir) for h in (0.9, 0.7)]
    if scale <= 100_000:
        engines.append(anchors.Pyserini())
        engines += [anchors.Bmp(64, a, shared=bmp) for a in (1.0, 0.9, 0.7, 0.5)]
    if scale < 1_000_000:  # Seismic's build of 1M documents passed 15 GB of memory: stopped (shared machine)
        n_postings = min(max(500, scale // 20), 5000)  # Seismic keeps 3,500 per list on 8.8M MS MARCO passages
        for query_cut, heap_factor in ((5, 0.9), (10, 0.9), (20, 0.9), (10, 0.7)):
            engines.append(anchors.Seismic(n_postings, 0.1, 0.4, query_cut, heap_factor, seismic))
    return engines


def measure(collection: anchors.Collection, engines: list[anchors.Engine], passes: int) -> list[dict]:
    """Build every engine, then time single queries (best of `passes`), batch QPS, and collect top-k lists.
    An engine whose package is not installed is left out, with a line that says so."""
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="lexir-speed-"))
    try:
        built_engines = []
        for engine in engines:
            gc.collect()
            before = rss_bytes()
            logger.info("%s: building %s", collection.name, engine.name)
            try:
                built = engine.build(collection, workdir / engine.name.replace(" ", "_").replace("=", ""))
            except ModuleNotFoundError as error:
                if not error.name or error.name.partition(".")[0] == "lexir":
                    raise
                print(f"skipped {engine.name}: {error.name} is not installed "
                      "(pip install -e '.[bench]' in a separate virtual environment)", flush=True)
                continue
            built_engines.append(engine)
            rows.append({"engine": engine.name, "exact": engine.exact, "build_s": built.seconds,
                         "index_bytes": built.index_bytes, "rss_delta_bytes": rss_bytes() - before,
                         "notes": built.notes})
        engines = built_engines
        for engine, row, timed in zip(engines, rows, time_queries(engines, collection.queries.shape[0], passes)):
            row.update(timed)
            row["qps"] = batch_qps(engine, collection.queries.shape[0])
        return rows
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def time_queries(engines: list[anchors.Engine], num_queries: int, passes: int) -> list[dict]:
    """Single-query latency of every engine (best of `passes`; engines take turns in a rotating order so that
    load from other processes hits them alike): per engine mean_ms, p50_ms, p99_ms and the top-K results."""
    best = np.full((len(engines), num_queries), np.inf)
    results: list[list] = [[None] * num_queries for _ in engines]
    for p in range(passes):
        for shift in range(len(engines)):
            e = (shift + p) % len(engines)
            logger.info("pass %d %s", p + 1, engines[e].name)
            for i in range(num_queries):
                began = time.perf_counter()
                found = engines[e].search(i, K)
                elapsed = time.perf_counter() - began
                best[e, i] = min(best[e, i], elapsed)
                results[e][i] = found
    latency = best * 1000
    return [{"mean_ms": float(latency[e].mean()), "p50_ms": float(np.percentile(latency[e], 50)),
             "p99_ms": float(np.percentile(latency[e], 99)), "results": results[e]} for e in range(len(engines))]


def batch_qps(engine: anchors.Engine, num_queries: int) -> float:
    engine.search_all(K, THREADS)
    best = np.inf
    for _ in range(2):
        began = time.perf_counter()
        engine.search_all(K, THREADS)
        best = min(best, time.perf_counter() - began)
    return num_queries / best


def compare_to_exact(rows: list[dict], reference: str = "lexir exhaustive") -> None:
    """Recall@10 against `reference`, and for exact engines whether top-10 documents and scores agree."""
    exact = next(r for r in rows if r["engine"] == reference)["results"]
    for row in rows:
        recalls, same_docs, same_scores = [], 0, 0
        for (want_docs, want_scores), (docs, scores) in zip(exact, row["results"]):
            if len(want_docs):
                recalls.append(len(set(np.asarray(docs).tolist()) & set(want_docs.tolist())) / len(want_docs))
            same_docs += np.array_equal(np.asarray(docs), want_docs)
            same_scores += len(scores) == len(want_scores) and np.array_equal(np.asarray(scores, np.float64),
                                                                               want_scores.astype(np.float64))
        row["recall@10"] = float(np.mean(recalls))
        row["same_top10_docs"] = same_docs / len(exact)
        row["same_top10_scores"] = same_scores / len(exact)


def table(rows: list[dict], reference: str) -> str:
    ref = next(r for r in rows if r["engine"] == reference)
    lines = [f"| engine | mean ms | p50 ms | p99 ms | mean vs {reference} | QPS (2 thr) | recall@10 | same top-10 "
             "(docs / scores) | build s | index MiB | RSS +MiB |", "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['mean_ms']:.3f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
            f"{r['mean_ms'] / ref['mean_ms']:.2f} | {r['qps']:,.0f} | {r['recall@10']:.4f} | "
            f"{r['same_top10_docs']:.3f} / {r['same_top10_scores']:.3f} | {r['build_s']:.2f} | "
            f"{r['index_bytes'] / 2**20:.1f} | {r['rss_delta_bytes'] / 2**20:.0f} |")
    return "\n".join(lines)


def statistics(collection: anchors.Collection) -> str:
    doc_nnz, query_nnz = np.diff(collection.documents.indptr), np.diff(collection.queries.indptr)
    return (f"{collection.num_docs:,} documents ({doc_nnz.mean():.0f} nonzeros each on average, "
            f"{collection.documents.nnz:,} postings), {collection.queries.shape[0]:,} queries "
            f"({query_nnz.mean():.1f} terms each, median {np.median(query_nnz):.0f})")


def run_set(vectors: speed_data.VectorSet, core: bool, passes: int, max_queries: int | None) -> list[dict]:
    if max_queries is None:  # bound the time of the big synthetic sets
        max_queries = 200 if vectors.documents.shape[0] >= 1_000_000 else 300 if vectors.documents.shape[0] >= 100_000 \
            else None
    queries = integer_queries(vectors.queries)[:max_queries]
    collection = anchors.Collection(vectors.name, integer_documents(vectors.documents), queries)
    print(f"\n### {vectors.name}\n\n{statistics(collection)}\n", flush=True)
    rows = measure(collection, engines_for(vectors.name, collection.num_docs, core), passes)
    compare_to_exact(rows)
    pisa_best = fastest_pisa(rows)
    print(table(rows, pisa_best["engine"] if pisa_best else "lexir exhaustive"), flush=True)
    return rows


def fastest_pisa(rows: list[dict]) -> dict | None:
    """The row of the fastest PISA algorithm, None when PISA is not installed."""
    return min((r for r in rows if r["engine"].startswith("PISA")), key=lambda r: r["mean_ms"], default=None)


def vector_sets(names: list[str], quick: bool):
    """Yield the requested vector sets lazily (the big synthetic ones are generated when their turn comes)."""
    if quick:
        yield speed_data.nfcorpus_index()
        return
    imdb = None
    for name in names:
        if name == "nfcorpus":
            yield speed_data.nfcorpus_index()
        elif name == "imdb-100k-bm25":
            yield speed_data.imdb_bm25(stride=1)
        elif name in ("imdb-splade", "imdb-bm25", "imdb-inference-free") or name.startswith("synthetic"):
            imdb = imdb or speed_data.imdb_splade()
            if name == "imdb-splade":
                yield imdb
            elif name == "imdb-bm25":
                yield speed_data.imdb_bm25()
            elif name == "imdb-inference-free":
                yield speed_data.inference_free(imdb)
            elif name.startswith("synthetic-if-"):
                yield speed_data.synthetic(speed_data.inference_free(imdb), int(float(name.split("-")[2]) * 1000))
            else:
                yield speed_data.synthetic(imdb, int(float(name.split("-")[1]) * 1000))


SETS = ["nfcorpus", "imdb-splade", "imdb-bm25", "imdb-100k-bm25", "imdb-inference-free", "synthetic-10",
        "synthetic-100", "synthetic-1000", "synthetic-if-1000"]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="nfcorpus with lexir, PISA and scipy only")
    parser.add_argument("--sets", nargs="*", default=SETS, help=f"vector sets among {SETS}")
    parser.add_argument("--core", action="store_true", help="only lexir (exact), PISA and scipy")
    parser.add_argument("--passes", type=int, default=None, help="timed passes per engine (default 3, quick 2)")
    parser.add_argument("--max-queries", type=int, default=None, help="use only the first N queries")
    parser.add_argument("--out", type=Path, default=speed_data.CACHE / "query_speed.json", help="JSON results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if os.environ.get("LEXIR_BENCH_VERBOSE") else logging.WARNING,
                        format="%(asctime)s %(message)s")
    passes = args.passes or (2 if args.quick else 3)
    print(f"query speed, {time.strftime('%Y-%m-%d')}, {machine()}; top-{K}; latency = best of {passes} passes")
    report = {}
    ratios = []
    for vectors in vector_sets(args.sets, args.quick):
        rows = run_set(vectors, args.quick or args.core, passes, args.max_queries)
        for row in rows:
            row.pop("results")
        report[vectors.name] = rows
        del vectors
        lexir = next(r for r in rows if r["engine"] == "lexir auto")
        pisa = fastest_pisa(rows)
        if pisa:
            ratios.append(lexir["mean_ms"] / pisa["mean_ms"])
            print(f"\nlexir auto / fastest PISA on this set: {ratios[-1]:.2f}; index bytes lexir / PISA: "
                  f"{lexir['index_bytes'] / pisa['index_bytes']:.3f} ({lexir['index_bytes']:,} / "
                  f"{pisa['index_bytes']:,})", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    if not ratios:
        print("lexir/PISA mean latency ratio: n/a (PISA is not installed)")
        return
    if len(ratios) > 1:
        print(f"(geometric mean over {len(ratios)} sets: " + ", ".join(f"{r:.2f}" for r in ratios) + ")")
    print(f"lexir/PISA mean latency ratio: {float(np.exp(np.mean(np.log(ratios)))):.2f}")


if __name__ == "__main__":
    main()
