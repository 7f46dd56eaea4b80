"""Load test of `lexir serve` on 127.0.0.1: concurrent clients mixing searches with document writes.

    python benchmarks/load.py --index indexes/nfcorpus-splade-tiny [--clients 16] [--seconds 30]
        [--write-every 20] [--workers 1]

Copies the index to a temporary folder (writes never touch the original), starts a real server on a
free loopback port, and runs N client threads for a fixed time: each sends nfcorpus test queries
(GET /search, k=10) and, every `--write-every`-th request, adds one document (POST /documents).
Reports requests/s, p50/p99 latency per kind, and errors; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import ir_datasets
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api_helpers import running_server  # noqa: E402

KEY = "load-test-key"


def client_loop(url: str, queries: list[str], deadline: float, write_every: int, offset: int,
                results: dict[str, list[float]], errors: list[str], lock: threading.Lock) -> None:
    with httpx.Client(timeout=30.0) as http:
        count = 0
        while time.monotonic() < deadline:
            count += 1
            kind = "write" if write_every and count % write_every == 0 else "search"
            started = time.perf_counter()
            try:
                if kind == "write":
                    doc = {"id": f"load-{offset}-{count}", "title": "Load test", "text": queries[count % len(queries)]}
                    response = http.post(f"{url}/documents", json={"documents": [doc]},
                                         headers={"X-API-Key": KEY})
                else:
                    response = http.get(f"{url}/search", params={"q": queries[(offset + count) % len(queries)],
                                                                 "k": 10})
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code == 200:
                        results[kind].append(elapsed)
                    else:
                        errors.append(f"{kind} {response.status_code}")
            except httpx.HTTPError as error:
                with lock:
                    errors.append(f"{kind} {type(error).__name__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--write-every", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    queries = [query.text for query in ir_datasets.load("beir/nfcorpus/test").queries_iter()]
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "index"
        shutil.copytree(args.index, index)
        log = Path(scratch) / "server.log"
        with running_server(index, "--workers", str(args.workers), api_key=KEY, log=log) as url:
            results: dict[str, list[float]] = {"search": [], "write": []}
            errors: list[str] = []
            lock = threading.Lock()
            deadline = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client_loop, args=(url, queries, deadline, args.write_every, i,
                                                                   results, errors, lock))
                       for i in range(args.clients)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            stats = httpx.get(f"{url}/stats").json()
        server_errors = [line for line in log.read_text().splitlines() if "Error" in line]
    total = sum(len(values) for values in results.values())
    print(f"{args.clients} clients, {elapsed:.1f} s, server workers {args.workers}, a write every "
          f"{args.write_every} requests; index ends with {stats['documents']} documents in {stats['segments']} "
          "segments")
    print(f"throughput: {total / elapsed:.1f} requests/s ({len(results['search']) / elapsed:.1f} searches/s, "
          f"{len(results['write']) / elapsed:.1f} writes/s); errors: {len(errors)}")
    for kind, values in results.items():
        if values:
            array = np.array(values)
            print(f"{kind:>7}: n={len(values)} p50 {np.percentile(array, 50):.1f} ms  "
                  f"p99 {np.percentile(array, 99):.1f} ms  mean {array.mean():.1f} ms")
    if errors:
        print("first errors:", sorted(set(errors))[:5])
    if server_errors:
        print("server log errors:", server_errors[:5])


if __name__ == "__main__":
    main()
