"""What Ray Serve adds to a sharded search: the same sharded index served by the local app and by `serve --ray`.

    python benchmarks/ray_serve_latency.py                  # 10,000 imdb reviews, BM25, 2 shards
    python benchmarks/ray_serve_latency.py --docs 2000 --shards 4

Builds a BM25 index of the first DOCS reviews of ../shared/data/corpora/imdb-100k.jsonl.gz in SHARDS shards, then
asks both apps (FastAPI TestClient, in this process) every NFCorpus test query (323), k=10, in turns (local, Ray,
local, ...; 2 passes, each query's best), after one warm-up pass. The Ray side is a private one-machine cluster
(`ray.init()`), one replica per shard. Both answers are checked equal (ids and scores) before timing counts.
Last line: the mean and p99 of each, and the Ray hop's mean cost per query.
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from lexir.api.app import create_app
from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.eval.datasets import load_topics
from lexir.index.sharded_build import build_sharded_index

IMDB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpora" / "imdb-100k.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private cluster of this run: no token in ~/.ray
    from lexir.distributed.serve import deploy_shards, undeploy_shards

    queries = [topic.text for topic in load_topics("beir/nfcorpus/test")[0]]
    with tempfile.TemporaryDirectory(prefix="lexir-serve-bench-") as folder:
        source = Path(folder) / "docs.jsonl"
        with gzip.open(IMDB, "rt", encoding="utf-8") as lines, open(source, "w", encoding="utf-8") as out:
            out.writelines(islice(lines, args.docs))
        index = Path(folder) / "index"
        build_sharded_index(Corpus(str(source)), create_encoder("bm25"), index, args.shards, progress=False)
        shards = deploy_shards(index, "local", cpus_per_replica=0.5)
        try:
            with TestClient(create_app(index)) as local, TestClient(create_app(index, shards=shards)) as remote:
                times = {"local": np.full(len(queries), np.inf), "ray": np.full(len(queries), np.inf)}
                for number in range(args.passes + 1):
                    for at, query in enumerate(queries):
                        answers = {}
                        for name, client in (("local", local), ("ray", remote))[::1 - 2 * (at % 2)]:
                            started = time.perf_counter()
                            answers[name] = client.get("/search", params={"q": query, "k": 10}).json()
                            if number:  # pass 0 warms up
                                times[name][at] = min(times[name][at], time.perf_counter() - started)
                        hits = [[(hit["id"], hit["score"]) for hit in answers[name]["hits"]] for name in answers]
                        assert hits[0] == hits[1], query
        finally:
            undeploy_shards(index)
    summary = {name: (1000 * values.mean(), 1000 * np.percentile(values, 99)) for name, values in times.items()}
    for name, (mean, p99) in summary.items():
        print(f"{name:6s} mean {mean:7.2f} ms  p99 {p99:7.2f} ms")
    print(f"{args.docs} docs, {args.shards} shards, {len(queries)} queries: local mean {summary['local'][0]:.2f} ms "
          f"p99 {summary['local'][1]:.2f}; ray mean {summary['ray'][0]:.2f} ms p99 {summary['ray'][1]:.2f}; "
          f"Ray Serve adds {summary['ray'][0] - summary['local'][0]:.2f} ms a query")


if __name__ == "__main__":
    main()
