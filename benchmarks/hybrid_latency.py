"""Per-query latency of sparse, dense and hybrid search on one index with a dense side, measured interleaved,
alone and with each pseudo-relevance feedback stage (RM3 or Rocchio on the sparse side, Rocchio on the dense
side) and the offline-best preset.

    .venv/bin/python benchmarks/hybrid_latency.py INDEX DATASET [K] [QUERIES]
    .venv/bin/python benchmarks/hybrid_latency.py /tmp/hyb/nfcorpus-splade-tiny-minilm beir/nfcorpus/test 10 200

Every query runs once in each mode in turn, after a warm-up, so background load falls on all modes
alike; each mode searches as `lexir search` does (k hits; hybrid takes max(k, 100) from each side).
Prints the load average before and after (the machine may be shared), a Markdown table of median and p90
milliseconds per mode, and the two parts of dense search (query encoding, FAISS search).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from lexir.eval import load_dataset
from lexir.presets import load_preset
from lexir.search import SearchOptions, open_search
from lexir.search.feedback import DENSE_FEEDBACK, RM3_KINDS, Feedback
from lexir.search.fusion import Fusion


def main(index: str, dataset: str, k: int = 10, count: int = 200) -> None:
    texts = [topic.text for topic in load_dataset(dataset).topics if topic.text.strip()][:count]
    hybrid = open_search(index, SearchOptions(mode="hybrid"))
    sparse, dense = hybrid.retrievers["sparse"], hybrid.retrievers["dense"]
    modes = {
        "sparse": open_search(index, encoder=sparse.encoder),
        "dense": open_search(index, SearchOptions(mode="dense"), dense_encoder=dense.encoder),
        "hybrid rrf": hybrid.using(SearchOptions(mode="hybrid", fusion=Fusion("rrf"))),
        "hybrid convex": hybrid.using(SearchOptions(mode="hybrid", fusion=Fusion("convex", (0.45, 0.55)))),
    }
    sparse_prf = "rm3" if sparse.spec.kind in RM3_KINDS else "rocchio"
    with_prf = {
        f"sparse + {sparse_prf}": SearchOptions(prf=Feedback(sparse_prf)),
        "dense + rocchio": SearchOptions(mode="dense", dense_prf=DENSE_FEEDBACK),
        f"hybrid rrf + {sparse_prf}": SearchOptions(mode="hybrid", prf=Feedback(sparse_prf)),
    }
    if load_preset("offline-best").sparse == sparse.spec.name:
        with_prf["preset offline-best"] = load_preset("offline-best").options
    for name, options in with_prf.items():
        modes[name] = open_search(index, options, encoder=sparse.encoder if options.mode != "dense" else None,
                                  dense_encoder=dense.encoder if options.mode != "sparse" else None)
    for searcher in modes.values():
        searcher.warm_up()
        searcher.rank_one(texts[0], k)
    vectors = {text: dense.encode([text]).vectors for text in texts}
    faiss_side = dense.segment("").dense
    parts = {"dense: query encoding": lambda text: dense.encode([text]),
             "dense: FAISS search": lambda text: faiss_side.search(vectors[text], k)}
    timings: dict[str, list[float]] = {name: [] for name in [*modes, *parts]}
    load_before = os.getloadavg()[0]
    for text in texts:
        for name, searcher in modes.items():
            timings[name].append(_milliseconds(lambda: searcher.rank_one(text, k)))
        for name, part in parts.items():
            timings[name].append(_milliseconds(lambda: part(text)))
    print(f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"| mode ({dataset}, {len(texts)} queries, k={k}) | median ms | p90 ms |\n|---|---:|---:|")
    for name, values in timings.items():
        print(f"| {name} | {np.median(values):.2f} | {np.percentile(values, 90):.2f} |")


def _milliseconds(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(arg) for arg in sys.argv[3:]))
