"""Latency of one query at a time on a sharded index against one index over the same documents, in one run.

    .venv/bin/python benchmarks/sharded_latency.py CORPUS WORK [--docs N] [--queries Q] [--k K] [--shards 2 4]
    nice -n 10 .venv/bin/python benchmarks/sharded_latency.py ../shared/data/corpora/imdb-100k.jsonl.gz \\
        /tmp/sharded-bench --docs 100000 --queries 300

Builds (once, kept in WORK) a BM25 index of the first N documents of CORPUS and sharded indexes of the same
documents, then runs every query in each configuration in turn (after a warm-up, so background load falls on
all alike): exact top-k with `Searcher.rank_one`, as `lexir search` ranks one query. The shards of one query are
searched side by side in threads ("threads") and, for comparison, one after another ("sequential"). Queries are
4-word spans of seeded random documents. Every configuration's hits (ids and scores, in order) are checked
against the one index's. Prints a Markdown table: median, p90 and mean milliseconds, and the ratio of each
median to the one index's median.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from itertools import islice
from pathlib import Path

import numpy as np

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.index import build_index
from lexir.index.format import is_index
from lexir.index.sharded import is_sharded
from lexir.index.sharded_build import build_sharded_index
from lexir.search import Searcher, open_search
from lexir.search.sharded import ShardedIndex


def subset(corpus: Path, work: Path, docs: int) -> Path:
    """The first `docs` documents of `corpus` as a JSONL file in `work` (written once)."""
    path = work / f"docs-{docs}.jsonl"
    if not path.is_file():
        opener = gzip.open if corpus.name.endswith(".gz") else open
        with opener(corpus, "rt", encoding="utf-8") as source, open(path, "w", encoding="utf-8") as out:
            out.writelines(islice(source, docs))
    return path


def queries(source: Path, count: int, seed: int = 18) -> list[str]:
    """`count` spans of 4 words from seeded random documents."""
    texts = [json.loads(line)["text"] for line in source.open(encoding="utf-8")]
    generator = random.Random(seed)
    found = []
    while len(found) < count:
        words = generator.choice(texts).split()
        if len(words) >= 8:
            start = generator.randrange(len(words) - 4)
            found.append(" ".join(words[start:start + 4]))
    return found


def milliseconds(searcher: Searcher, query: str, k: int) -> float:
    started = time.perf_counter()
    searcher.rank_one(query, k)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    source = subset(args.corpus, args.work, args.docs)
    one = args.work / f"one-{args.docs}"
    if not is_index(one):
        build_index(Corpus(str(source)), create_encoder("bm25"), one, overwrite=True)
    configurations: dict[str, Searcher] = {"one index": open_search(one)}
    for shards in args.shards:
        path = args.work / f"sharded-{args.docs}-{shards}"
        if not is_sharded(path):
            build_sharded_index(Corpus(str(source)), create_encoder("bm25"), path, shards, overwrite=True)
        configurations[f"{shards} shards, threads"] = open_search(ShardedIndex(path))
        configurations[f"{shards} shards, sequential"] = open_search(ShardedIndex(path, threads=False))
    texts = queries(source, args.queries)
    expected = {text: configurations["one index"].rank_one(text, args.k) for text in texts}
    for name, searcher in configurations.items():
        for text in texts:  # warm-up, and the check that every configuration gives the one index's hits
            got = searcher.rank_one(text, args.k)
            if got.keys.tolist() != expected[text].keys.tolist() or not np.array_equal(got.scores,
                                                                                      expected[text].scores):
                raise SystemExit(f"{name}: other hits than one index for {text!r}")
    timings: dict[str, list[float]] = {name: [] for name in configurations}
    for text in texts:
        for name, searcher in configurations.items():
            timings[name].append(milliseconds(searcher, text, args.k))
    base = float(np.median(timings["one index"]))
    print(f"{args.docs:,} documents, BM25, {len(texts)} queries, exact top-{args.k}, one query at a time "
          "(all hits identical to one index's)\n")
    print("| configuration | median ms | p90 ms | mean ms | median / one index |")
    print("|---|---:|---:|---:|---:|")
    for name, values in timings.items():
        median = float(np.median(values))
        print(f"| {name} | {median:.3f} | {np.percentile(values, 90):.3f} | {np.mean(values):.3f} | "
              f"{median / base:.2f} |")


if __name__ == "__main__":
    main()
