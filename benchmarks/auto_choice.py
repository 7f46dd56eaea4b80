"""Does `auto` pick well on built indexes? Per-query timings of every exact algorithm and of `auto`, and the
MaxScore/exhaustive crossover that lexir/search/algorithms/choice.py encodes, re-fitted on them.

    python benchmarks/auto_choice.py --set NAME INDEX QUERIES [--set ...] [--max-queries 300] [--repeats 3]

QUERIES is a JSONL file of pre-encoded queries (`{"id", "vector": {token: weight}}`, e.g. benchmarks/scale.py's
query file), `ir:DATASET` (the dataset's query texts, encoded by the index's encoder), or `real` (the query
texts of benchmarks/speed_data.py: held-out IMDb sentences, NFCorpus and Cranfield queries).

The kernels are called directly (top-10, one thread). The machine is shared, so each call is timed by the CPU
time of this thread (time.thread_time_ns: the time it waited for a core is left out; wall time grew 6x at a load
average of 16 on two cores), the algorithms are interleaved query by query in a random order per query and round
(an algorithm that runs a query right after another leaves that query's lists in the caches), every query is
timed `--repeats` times and its best time kept, and the load average is printed before and after. For each
set: the mean of each algorithm, of `auto`, of the per-query oracle, and of the rule "MaxScore iff the query's
lists hold fewer than F x num_docs postings" for a range of F, computed from the same timings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lexir.index import InvertedIndex
from lexir.search.algorithms import AUTO, BLOCK_MAX_MAXSCORE, EXHAUSTIVE, MAXSCORE
from lexir.search.algorithms.choice import (
    HUGE_INDEX_DOCS,
    LARGE_INDEX_DOCS,
    MAXSCORE_BELOW_POSTINGS_PER_DOC,
    MAXSCORE_BELOW_POSTINGS_PER_DOC_LARGE,
)
from lexir.search.algorithms.dispatch import KernelQueries, kernel_queries, known_terms, top_k

CODES = {"exhaustive": EXHAUSTIVE, "maxscore": MAXSCORE, "block_max_maxscore": BLOCK_MAX_MAXSCORE, "auto": AUTO}
FIXED = ("exhaustive", "maxscore", "block_max_maxscore")
WINDOW = 4096
FRACTIONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)


def query_matrix(index: InvertedIndex, source: str) -> sp.csr_matrix:
    """The queries of `source` (see the module docstring) as rows over the index's vocabulary."""
    if source == "real" or source.startswith("ir:"):
        from lexir.search import open_search

        if source == "real":
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import speed_data

            texts = speed_data.real_queries()
        else:
            import ir_datasets

            texts = [query.text for query in ir_datasets.load(source[3:]).queries_iter()]
        return open_search(index.path).retrievers["sparse"].encode(texts).vectors
    ids = {token: i for i, token in enumerate(index.load_encoder().vocabulary)}
    rows = []
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            vector = json.loads(line)["vector"]
            rows.append(sorted((ids[token], weight) for token, weight in vector.items() if token in ids))
    indptr = np.cumsum([0] + [len(row) for row in rows])
    terms = np.array([term for row in rows for term, _ in row], dtype=np.int32)
    weights = np.array([weight for row in rows for _, weight in row], dtype=np.float32)
    return sp.csr_matrix((weights, terms, indptr), shape=(len(rows), len(ids)))


def timings(index: InvertedIndex, queries: KernelQueries, repeats: int) -> dict[str, np.ndarray]:
    """Best-of-`repeats` CPU seconds per query for each algorithm, interleaved query by query."""
    postings = index.posting_arrays
    count = len(queries.offsets) - 1
    times = {name: np.full(count, np.inf) for name in CODES}
    names = list(CODES)
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        for q in range(count):
            span = slice(queries.offsets[q], queries.offsets[q + 1])
            for name in rng.permutation(names):
                began = time.thread_time_ns()
                top_k(CODES[name], postings, queries.terms[span], queries.weights[span], 10, 1.0, WINDOW)
                times[name][q] = min(times[name][q], (time.thread_time_ns() - began) / 1e9)
    return times


def analyse(name: str, index_path: str, source: str, max_queries: int | None, repeats: int) -> dict:
    index = InvertedIndex(index_path)
    matrix = query_matrix(index, source)[:max_queries]
    queries = known_terms(kernel_queries(matrix, index.quantizer.bits), index.num_terms)
    nonempty = np.flatnonzero(np.diff(queries.offsets))  # queries with no known term are not timed
    queries = KernelQueries(np.concatenate([[0], np.cumsum(np.diff(queries.offsets)[nonempty])]),
                            queries.terms, queries.weights)
    offsets = np.asarray(index.offsets)
    lengths = (offsets[queries.terms + 1] - offsets[queries.terms]).astype(np.int64)
    ratio = np.add.reduceat(lengths, queries.offsets[:-1]) / index.num_docs  # postings per document, per query
    timings(index, KernelQueries(queries.offsets[:21], queries.terms, queries.weights), 1)  # compile, warm up
    load = os.getloadavg()[0]
    times = timings(index, queries, repeats)
    oracle = np.minimum.reduce([times[algorithm] for algorithm in FIXED])
    rules = {fraction: float(np.where(ratio < fraction, times["maxscore"], times["exhaustive"]).mean())
             for fraction in FRACTIONS}
    print(f"\n### {name}: {index.num_docs:,} docs, {index.manifest.num_postings:,} postings, {len(ratio)} queries "
          f"(median postings/docs {np.median(ratio):.3f}); load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for algorithm, values in times.items():
        print(f"  {algorithm:20s} mean {values.mean() * 1000:8.3f} ms   p99 {np.percentile(values, 99) * 1000:8.3f}")
    print(f"  {'oracle':20s} mean {oracle.mean() * 1000:8.3f} ms")
    print("  rule 'maxscore iff postings < F x docs' (from the same timings): " + ", ".join(
        f"F={fraction:g}: {mean * 1000:.3f}" for fraction, mean in rules.items()) + " ms")
    edges = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, np.inf]
    for low, high in zip(edges[:-1], edges[1:]):
        mask = (ratio >= low) & (ratio < high)
        if mask.any():
            wins = int((times["maxscore"][mask] < times["exhaustive"][mask]).sum())
            exhaustive, maxscore = times["exhaustive"][mask].mean() * 1000, times["maxscore"][mask].mean() * 1000
            print(f"  postings/docs {low:5.2f}-{high:5.2f}: {mask.sum():4d} queries, exhaustive {exhaustive:.3f} ms, "
                  f"maxscore {maxscore:.3f} ms (faster on {wins})")
    return {"num_docs": index.num_docs, "ratio": ratio.tolist(), "load": load,
            "times": {algorithm: values.tolist() for algorithm, values in times.items()},
            "rules": {str(fraction): mean for fraction, mean in rules.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs=3, action="append", metavar=("NAME", "INDEX", "QUERIES"), required=True)
    parser.add_argument("--max-queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the per-query timings as JSON")
    args = parser.parse_args()
    print(f"auto's rule now: maxscore iff postings < {MAXSCORE_BELOW_POSTINGS_PER_DOC} x docs "
          f"({MAXSCORE_BELOW_POSTINGS_PER_DOC_LARGE} x docs from {LARGE_INDEX_DOCS:,} docs; always from "
          f"{HUGE_INDEX_DOCS:,} docs)")
    report = {name: analyse(name, index, queries, args.max_queries, args.repeats) for name, index, queries in args.set}
    fixed_best = {name: min(np.mean(result["times"][a]) for a in FIXED) for name, result in report.items()}
    print("\nrule F against the best single algorithm of each set (mean ratio; <= 1 is at least as fast):")
    for fraction in FRACTIONS:
        ratios = [result["rules"][str(fraction)] / fixed_best[name] for name, result in report.items()]
        print(f"  F={fraction:<6g} " + "  ".join(f"{name} {r:.3f}" for name, r in zip(report, ratios)) +
              f"   worst {max(ratios):.3f}")
    if args.out:
        args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
