"""Encoding throughput of `lexir index build --ray` (1 and 2 Ray workers) against the plain local build, same run.

    python benchmarks/ray_encoding.py                 # 2,000 imdb reviews, splade-tiny
    python benchmarks/ray_encoding.py --docs 500      # quicker

Every build is a `python -m lexir index build` subprocess on the same JSONL file (the first DOCS reviews of
../shared/data/corpora/imdb-100k.jsonl.gz), with the same encoder, chunk size and batch size: `local` (torch's
own thread count), `local-1t` (`--threads 1`, as each Ray worker has), and `--ray local` (a private one-machine
cluster) with 1 and 2 workers, each reserving `--cpus-per-worker` CPUs with that many torch threads. docs/s is the
build's own encoding figure (manifest extra.build.docs_per_second: model loading and, for Ray, the actors' start
included); wall is the whole command (for Ray: starting the cluster too). Every build is checked to give the same
postings as `local` before its line is printed. The last line gives the ratios to `local`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np

from lexir.index import InvertedIndex
from lexir.index.format import ARRAY_NAMES

IMDB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpora" / "imdb-100k.jsonl.gz"


def write_corpus(path: Path, count: int) -> Path:
    with gzip.open(IMDB, "rt", encoding="utf-8") as lines, open(path, "w", encoding="utf-8") as out:
        for line in islice(lines, count):
            out.write(line)
    return path


def build(source: Path, out: Path, encoder: str, extra: list[str]) -> tuple[float, float]:
    """(encoding docs/s, wall seconds) of one build."""
    command = [sys.executable, "-m", "lexir", "index", "build", str(source), "--out", str(out), "--encoder", encoder,
               "--quiet", "--overwrite", *extra]
    started = time.perf_counter()
    # a private cluster of this run: no auth token (Ray would write one to ~/.ray for a local cluster)
    subprocess.run(command, check=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "RAY_AUTH_MODE": "disabled"})
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return manifest["extra"]["build"]["docs_per_second"], wall


def same_postings(left: Path, right: Path) -> None:
    a, b = InvertedIndex(left), InvertedIndex(right)
    for name in ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--encoder", default="splade-tiny")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lexir-ray-bench-") as folder:
        root = Path(folder)
        source = write_corpus(root / "docs.jsonl", args.docs)
        ray = ["--cpus-per-worker", str(args.cpus_per_worker), "--ray", "local", "--workers"]
        runs = {"local": [], "local-1t": ["--threads", "1"], "ray-1": [*ray, "1"], "ray-2": [*ray, "2"]}
        results = {}
        for name, extra in runs.items():
            results[name] = build(source, root / name, args.encoder, extra)
            if name != "local":
                same_postings(root / name, root / "local")
            print(f"{name:8s} {results[name][0]:8.1f} docs/s  {results[name][1]:7.1f} s wall", flush=True)
        base = results["local"][0]
        print(f"{args.docs} docs, {args.encoder}: docs/s ratio to the local build: local --threads 1 "
              f"{results['local-1t'][0] / base:.2f}, ray-1 {results['ray-1'][0] / base:.2f}, ray-2 "
              f"{results['ray-2'][0] / base:.2f}")


if __name__ == "__main__":
    main()
