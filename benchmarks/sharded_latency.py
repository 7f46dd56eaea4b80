"""Latency of one query at a time on a sharded index against one index over the same documents, in one run.

    .venv/bin/python benchmarks/sharded_latency.py CORPUS WORK [--docs N] [--queries Q] [--k K] [--shards 2 4]
        [--rounds R]
    nice -n 10 .venv/bin/python benchmarks/sharded_latency.py ../shared/data/corpora/imdb-100k.jsonl.gz \\
        /tmp/sharded-bench --docs 100000 --queries 300

Builds (once, kept in WORK) a BM25 index of the first N documents of CORPUS and sharded indexes of the same
documents, then times exact top-k with `Searcher.rank_one` (as `lexir search` ranks one query): each sharded
configuration paired with the one index, the two interleaved query by query (A B, then B A for the next query;
R rounds over the queries, after a warm-up), so that load from other processes falls on both alike and neither
always runs on the caches the other left. Sharded
configurations: the default ("auto": a query's shards in threads only when its postings reach
`parallel_postings`), "sequential" (never threads) and "threads" (always). Queries are 4-word spans of seeded
random documents. Every configuration's hits (ids and scores, in order) are checked against the one index's.

Times per query: the calling thread's CPU time (time.thread_time; it misses the work a query hands to other
threads, so it reads low for "threads"), the process's CPU time (time.process_time: every thread's work, equal to
the thread's when a query stays in one thread; the ratios use it) and wall time (secondary: it counts
waiting for cores that other processes hold). Prints a Markdown table, then the goal line of issue #18: the
per-shard overhead at 2 shards, as the ratio of the default 2-shard configuration's mean CPU time per query to
the one index's in their pairing (the goal: under 1.20).
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

GOAL = 1.20
CLOCKS = ("thread", "process", "wall")


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


def timed(searcher: Searcher, query: str, k: int) -> tuple[float, float, float]:
    """(thread CPU, process CPU, wall) milliseconds of one `rank_one`."""
    thread, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
    searcher.rank_one(query, k)
    return ((time.thread_time() - thread) * 1000, (time.process_time() - process) * 1000,
            (time.perf_counter() - wall) * 1000)


def configurations(work: Path, source: Path, docs: int, shard_counts: list[int]) -> dict[str, Searcher]:
    """The one index and, per shard count, its three sharded configurations (indexes built once)."""
    one = work / f"one-{docs}"
    if not is_index(one):
        build_index(Corpus(str(source)), create_encoder("bm25"), one, overwrite=True)
    found: dict[str, Searcher] = {"one index": open_search(one)}
    for shards in shard_counts:
        path = work / f"sharded-{docs}-{shards}"
        if not is_sharded(path):
            build_sharded_index(Corpus(str(source)), create_encoder("bm25"), path, shards, overwrite=True)
        found[f"{shards} shards, auto"] = open_search(ShardedIndex(path))
        found[f"{shards} shards, sequential"] = open_search(ShardedIndex(path, threads=False))
        found[f"{shards} shards, threads"] = open_search(ShardedIndex(path, parallel_postings=0))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the queries")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    source = subset(args.corpus, args.work, args.docs)
    searchers = configurations(args.work, source, args.docs, args.shards)
    texts = queries(source, args.queries)
    expected = {text: searchers["one index"].rank_one(text, args.k) for text in texts}
    for name, searcher in searchers.items():
        for text in texts:  # warm-up, and the check that every configuration gives the one index's hits
            got = searcher.rank_one(text, args.k)
            if got.keys.tolist() != expected[text].keys.tolist() or not np.array_equal(got.scores,
                                                                                      expected[text].scores):
                raise SystemExit(f"{name}: other hits than one index for {text!r}")
        searcher.rank(texts, args.k)  # the batch kernels compiled or loaded before any batch is timed
    single = searchers.pop("one index")
    print(f"{args.docs:,} documents, BM25, {len(texts)} queries x {args.rounds} rounds, exact top-{args.k}, one "
          "query at a time; each configuration paired with the one index, interleaved query by query in ABBA "
          "order (all hits identical to one index's)\n")
    print("| configuration | thread CPU ms median / mean | process CPU ms median / mean | wall ms median / p90 "
          "| one index's process CPU mean in the pairing | CPU mean / one index | wall median / one index |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for name, searcher in searchers.items():
        mine, base = paired(searcher, single, texts * args.rounds, args.k)
        ratios[name] = mine[:, 1].mean() / base[:, 1].mean()
        wall = np.median(mine[:, 2]) / np.median(base[:, 2])
        print(f"| {name} | {np.median(mine[:, 0]):.3f} / {mine[:, 0].mean():.3f} | {np.median(mine[:, 1]):.3f} / "
              f"{mine[:, 1].mean():.3f} | {np.median(mine[:, 2]):.3f} / {np.percentile(mine[:, 2], 90):.3f} | "
              f"{base[:, 1].mean():.3f} | {ratios[name]:.3f} | {wall:.3f} |")
    if "2 shards, auto" in ratios:
        ratio = ratios["2 shards, auto"]
        print(f"\ngoal (issue #18): 2 shards / one index = {ratio:.3f} by CPU time per query (mean, paired); "
              f"{'met' if ratio < GOAL else 'not met'} (under {GOAL:.2f} needed)")
    for name, searcher in searchers.items():
        if name.endswith("auto"):
            mine, base = paired_batches(searcher, single, texts, args.k, args.rounds)
            cpu, wall = mine[:, 1].mean() / base[:, 1].mean(), np.median(mine[:, 2]) / np.median(base[:, 2])
            print(f"batch of {len(texts)} queries (`Searcher.rank`), {name.split(',')[0]} / one index = {cpu:.3f} "
                  f"by process CPU, {wall:.3f} by wall ({mine[:, 1].mean():.1f} / {base[:, 1].mean():.1f} ms CPU)")


def paired(searcher: Searcher, single: Searcher, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(thread CPU, process CPU, wall) ms of every query with `searcher` and with `single`, run in turn, the order
    swapped every other query (a configuration that runs second finds caches the first one left)."""
    mine, base = np.zeros((len(texts), len(CLOCKS))), np.zeros((len(texts), len(CLOCKS)))
    for at, text in enumerate(texts):
        if at % 2:
            mine[at], base[at] = timed(searcher, text, k), timed(single, text, k)
        else:
            base[at], mine[at] = timed(single, text, k), timed(searcher, text, k)
    return mine, base


def paired_batches(searcher: Searcher, single: Searcher, texts: list[str], k: int, rounds: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(thread CPU, process CPU, wall) ms of the whole batch with `searcher` and with `single`, in ABBA turns."""
    mine, base = np.zeros((2 * rounds, len(CLOCKS))), np.zeros((2 * rounds, len(CLOCKS)))
    for at in range(2 * rounds):
        runs = [(mine, searcher), (base, single)]
        for table, one in (runs if at % 2 else runs[::-1]):
            thread, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
            one.rank(texts, k)
            table[at] = ((time.thread_time() - thread) * 1000, (time.process_time() - process) * 1000,
                         (time.perf_counter() - wall) * 1000)
    return mine, base


if __name__ == "__main__":
    main()
