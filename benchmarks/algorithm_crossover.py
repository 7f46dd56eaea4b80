"""Where exhaustive scoring stops paying: per-query timings of every exact algorithm, and the `auto` rule.

    python benchmarks/algorithm_crossover.py [--sets nfcorpus imdb-splade synthetic-100 ...]

For each query of each set, times exhaustive, MaxScore and block-max MaxScore (best of 3, interleaved)
through the kernels, with the query's features (terms, postings of its lists, documents in the index);
then scores candidate rules "exhaustive iff postings <= X" against the per-query oracle and prints
the window sweep of block-max MaxScore. Results are what lexir/search/algorithms/choice.py encodes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchors  # noqa: E402
import query_speed  # noqa: E402
import speed_data  # noqa: E402

from lexir.index import InvertedIndex  # noqa: E402
from lexir.search.algorithms import BLOCK_MAX_MAXSCORE, EXHAUSTIVE, MAXSCORE  # noqa: E402
from lexir.search.algorithms.dispatch import kernel_queries, posting_arrays, top_k  # noqa: E402

CODES = {"exhaustive": EXHAUSTIVE, "maxscore": MAXSCORE, "block_max_maxscore": BLOCK_MAX_MAXSCORE}
WINDOWS = (512, 1024, 2048, 4096, 8192, 16384)


def timings(index: InvertedIndex, queries, configs: dict[str, tuple[int, int]], repeats: int = 3) -> dict:
    """Best-of-`repeats` seconds per query for each named (code, window) configuration."""
    postings = posting_arrays(index)
    times = {name: np.full(len(queries.offsets) - 1, np.inf) for name in configs}
    for _ in range(repeats):
        for q in range(len(queries.offsets) - 1):
            span = slice(queries.offsets[q], queries.offsets[q + 1])
            for name, (code, window) in configs.items():
                began = time.perf_counter()
                top_k(code, postings, queries.terms[span], queries.weights[span], 10, 1.0, window)
                times[name][q] = min(times[name][q], time.perf_counter() - began)
    return times


def analyse(vectors: speed_data.VectorSet, max_queries: int | None) -> dict:
    queries_csr = query_speed.integer_queries(vectors.queries)[:max_queries]
    collection = anchors.Collection(vectors.name, query_speed.integer_documents(vectors.documents), queries_csr)
    folder = Path(tempfile.mkdtemp(prefix="lexir-crossover-"))
    anchors.Lexir("exhaustive").build(collection, folder)
    index = InvertedIndex(folder)
    queries = kernel_queries(queries_csr, 8)
    postings = np.array([index.doc_freq[queries.terms[queries.offsets[q]:queries.offsets[q + 1]]].sum()
                         for q in range(len(queries.offsets) - 1)])
    configs = {name: (code, 4096) for name, code in CODES.items()}
    configs.update({f"block_max_maxscore w={w}": (BLOCK_MAX_MAXSCORE, w) for w in WINDOWS})
    timings(index, queries, configs, repeats=1)  # compile and warm caches
    times = timings(index, queries, configs)
    oracle = np.minimum.reduce([times[name] for name in CODES])
    rules = {}
    for threshold in sorted({0, *np.percentile(postings, range(0, 101, 5)).astype(int).tolist()}):
        chosen = np.where(postings <= threshold, times["exhaustive"], times["block_max_maxscore"])
        rules[threshold] = float(chosen.mean())
    best = min(rules, key=rules.get)
    median = np.median(postings)
    print(f"\n### {vectors.name}: {index.num_docs:,} docs, {len(postings)} queries, postings per query "
          f"median {median:,.0f} ({median / index.num_docs:.2f} x the documents)")
    for name, values in times.items():
        print(f"  {name:32s} mean {values.mean() * 1000:.3f} ms")
    print(f"  oracle (best per query)          mean {oracle.mean() * 1000:.3f} ms")
    print(f"  best rule: exhaustive iff postings <= {best:,} -> mean {rules[best] * 1000:.3f} ms")
    edges = np.unique(np.percentile(postings, [0, 20, 40, 60, 80, 100]))
    for low, high in zip(edges[:-1], edges[1:]):
        mask = (postings >= low) & (postings <= high)
        parts = ", ".join(f"{name} {times[name][mask].mean() * 1000:.3f}" for name in CODES)
        print(f"  postings {low:>10,.0f} - {high:>10,.0f} ({mask.sum():4d} queries): {parts} ms")
    return {"num_docs": index.num_docs, "postings": postings.tolist(),
            "times": {name: values.tolist() for name, values in times.items()}, "rules": rules}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=["nfcorpus", "imdb-splade", "imdb-bm25", "imdb-inference-free",
                                                      "synthetic-10", "synthetic-100"])
    parser.add_argument("--max-queries", type=int, default=None, help="use only the first N queries")
    parser.add_argument("--out", type=Path, default=speed_data.CACHE / "algorithm_crossover.json")
    args = parser.parse_args()
    report = {vectors.name: analyse(vectors, args.max_queries)
              for vectors in query_speed.vector_sets(args.sets, quick=False)}
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
