"""Load test of `lexir serve` on 127.0.0.1: concurrent clients mixing searches with document writes.

    python benchmarks/load.py --index indexes/nfcorpus-splade-tiny [--clients 16] [--seconds 30]
        [--write-every 20] [--workers 1] [--queries beir/nfcorpus/test]

Copies the index to a temporary folder (writes never touch the original), starts a real server on a
free loopback port, and runs N client threads for a fixed time, each on its own keep-alive connection:
each sends queries (GET /search, k=10; by default the nfcorpus test queries) and, every `--write-every`-th
request, adds one document (POST /documents). Reports requests/s, p50/p99 latency per kind, and errors
(any answer but 200, and any connection error); the server is stopped at the end, and the server's log is
printed where it shows errors. `run_load` is the same run for tests (tests/integration/test_serve.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api_helpers import running_server  # noqa: E402

KEY = "load-test-key"


@dataclass
class LoadReport:
    clients: int
    workers: int
    write_every: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "write": []})
    errors: list[str] = field(default_factory=list)
    stats: dict[str, object] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def percentile(self, kind: str, q: float) -> float:
        values = self.latencies[kind]
        return float(np.percentile(values, q)) if values else float("nan")

    def lines(self) -> list[str]:
        total = sum(len(values) for values in self.latencies.values())
        out = [f"{self.clients} clients, {self.seconds:.1f} s, server workers {self.workers}, a write every "
               f"{self.write_every} requests; index ends with {self.stats.get('documents')} documents in "
               f"{self.stats.get('segments')} segments (commit {self.stats.get('generation')})",
               f"throughput: {total / self.seconds:.1f} requests/s ({len(self.latencies['search']) / self.seconds:.1f} "
               f"searches/s, {len(self.latencies['write']) / self.seconds:.1f} writes/s); errors: {len(self.errors)}"]
        for kind, values in self.latencies.items():
            if values:
                out.append(f"{kind:>7}: n={len(values)} p50 {self.percentile(kind, 50):.1f} ms  "
                           f"p99 {self.percentile(kind, 99):.1f} ms  mean {float(np.mean(values)):.1f} ms")
        if self.errors:
            out.append(f"errors: {sorted(set(self.errors))[:10]}")
        if self.server_errors:
            out.append("server log:\n" + "\n".join(self.server_errors[-40:]))
        return out


def client_loop(url: str, queries: Sequence[str], deadline: float, write_every: int, offset: int,
                report: LoadReport, lock: threading.Lock) -> None:
    with httpx.Client(timeout=60.0) as http:
        count = 0
        while time.monotonic() < deadline:
            count += 1
            kind = "write" if write_every and count % write_every == 0 else "search"
            started = time.perf_counter()
            try:
                if kind == "write":
                    doc = {"id": f"load-{offset}-{count}", "title": "Load test", "text": queries[count % len(queries)]}
                    response = http.post(f"{url}/documents", json={"documents": [doc]}, headers={"X-API-Key": KEY})
                else:
                    response = http.get(f"{url}/search", params={"q": queries[(offset + count) % len(queries)],
                                                                 "k": 10})
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code == 200:
                        report.latencies[kind].append(elapsed)
                    else:
                        report.errors.append(f"{kind} {response.status_code} {response.text[:200]}")
            except httpx.HTTPError as error:
                with lock:
                    report.errors.append(f"{kind} {type(error).__name__}: {error}")


def run_load(index: Path, queries: Sequence[str], *, clients: int = 16, seconds: float = 30.0, write_every: int = 20,
             workers: int = 1) -> LoadReport:
    """Serve a copy of `index` and run the clients against it; the copy and the server are gone afterwards."""
    report = LoadReport(clients, workers, write_every)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "index"
        shutil.copytree(index, copy)
        log = Path(scratch) / "server.log"
        with running_server(copy, "--workers", str(workers), api_key=KEY, log=log) as url:
            lock = threading.Lock()
            deadline = time.monotonic() + seconds
            threads = [threading.Thread(target=client_loop, args=(url, queries, deadline, write_every, i, report,
                                                                   lock))
                       for i in range(clients)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            report.seconds = time.monotonic() - started
            report.stats = httpx.get(f"{url}/stats", headers={"X-API-Key": KEY}).json()
        text = log.read_text(errors="replace")
        if "Error" in text or "Traceback" in text:
            report.server_errors = text.splitlines()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--write-every", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queries", default="beir/nfcorpus/test", help="ir_datasets id whose queries are sent")
    args = parser.parse_args()
    import ir_datasets

    queries = [query.text for query in ir_datasets.load(args.queries).queries_iter()]
    report = run_load(Path(args.index), queries, clients=args.clients, seconds=args.seconds,
                      write_every=args.write_every, workers=args.workers)
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
