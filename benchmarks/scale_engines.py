"""The scale benchmark's worker: builds one anchor engine from a JsonVectorCollection file, or times queries
on built indexes. benchmarks/scale.py runs each step as its own process, so that each build's wall time and
peak RSS are its own and no engine's memory stays behind for the next.

    python benchmarks/scale_engines.py build pisa|bmp|seismic CORPUS.jsonl.gz FOLDER [--vocabulary TOKENS.json]
    python benchmarks/scale_engines.py search QUERIES.jsonl OUT.json --lexir DIR --pisa DIR --bmp DIR ...
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchors  # noqa: E402
import query_speed  # noqa: E402

K = query_speed.K
LEXIR_ALGORITHMS = ("auto", "exhaustive", "maxscore", "block_max_maxscore")
PISA_ALGORITHMS = ("block_max_wand", "maxscore", "block_max_maxscore", "ranked_or")
BMP_BLOCK = 64
BMP_ALPHAS = (1.0, 0.9, 0.8)
SEISMIC_BUILD = {"centroid_fraction": 0.1, "summary_energy": 0.4, "doc_cut": 15}
SEISMIC_QUERY = ((10, 0.9), (20, 0.8), (10, 0.7), (20, 0.7), (30, 0.5))  # (query_cut, heap_factor)
SEISMIC_CHUNK = 100_000


def read_vectors(path: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """(id, {token: weight}) of each line of a JsonVectorCollection (.jsonl or .jsonl.gz) or query file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            yield record["id"], record["vector"]


def seismic_postings(num_docs: int, given: int | None = None) -> int:
    """Seismic's n_postings (kept per list): `given`, else its default of 3,500 for 8.8M MS MARCO passages
    scaled down with the collection, at least 500."""
    return given or max(500, round(3500 * num_docs / 8_841_823))


def build_pisa(corpus: Path, folder: Path) -> None:
    """pyterrier-pisa's own toks indexer (impacts = the integer weights, scale 1), then its compression."""
    from pyterrier_pisa import PisaIndex

    index = PisaIndex(str(folder), stemmer="none", stops="none", threads=1)
    index.toks_indexer(scale=1.0).index({"docno": doc_id, "toks": vector} for doc_id, vector in read_vectors(corpus))
    anchors.open_pisa(folder)


def build_bmp(corpus: Path, folder: Path) -> None:
    """BMP's indexer fed document by document; the set of indexed terms is kept for the queries."""
    import bmp

    folder.mkdir(parents=True, exist_ok=True)
    indexer = bmp.Indexer(str(folder / "bmp.index"), BMP_BLOCK, False)
    terms: set[str] = set()
    for doc_id, vector in read_vectors(corpus):
        indexer.add_document(doc_id, vector)
        terms.update(vector)
    with anchors._quiet():
        indexer.finish()
    (folder / "terms.json").write_text(json.dumps(sorted(terms)))


def build_seismic(corpus: Path, folder: Path, vocabulary: list[str], n_postings: int | None) -> None:
    """Seismic from its dataset API, filled chunk by chunk (components are vocabulary ids)."""
    import seismic

    ids = {token: i for i, token in enumerate(vocabulary)}
    dataset = seismic.SeismicDataset()
    chunk: list[tuple[str, dict[str, int]]] = []
    count = 0

    def flush() -> None:
        rows = [sorted((ids[t], w) for t, w in vector.items()) for _, vector in chunk]
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
        components = np.array([c for r in rows for c, _ in r], dtype=np.int64)
        values = np.array([w for r in rows for _, w in r], dtype=np.float32)
        dataset.add_documents_by_id([doc_id for doc_id, _ in chunk], components, values, offsets)
        chunk.clear()

    for record in read_vectors(corpus):
        chunk.append(record)
        count += 1
        if len(chunk) == SEISMIC_CHUNK:
            flush()
    if chunk:
        flush()
    with anchors._quiet():
        index = seismic.SeismicIndex.build_from_dataset(dataset, n_postings=seismic_postings(count, n_postings),
                                                        num_threads=2, **SEISMIC_BUILD)
    folder.mkdir(parents=True, exist_ok=True)
    with anchors._quiet():
        index.save(str(folder / "seismic"))


def lexir_engines(folder: Path, queries: list[dict[str, int]]) -> list[anchors.Engine]:
    """lexir's exact algorithms on the index at `folder`, queries mapped onto the index's vocabulary."""
    from lexir.index import InvertedIndex

    ids = {token: i for i, token in enumerate(InvertedIndex(folder).load_encoder().vocabulary)}
    rows = [{ids[t]: w for t, w in q.items() if t in ids} for q in queries]
    matrix = sp.csr_matrix((len(rows), len(ids)), dtype=np.float32)
    if rows:
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        indices = np.array([t for r in rows for t in sorted(r)], dtype=np.int32)
        data = np.array([r[t] for r in rows for t in sorted(r)], dtype=np.float32)
        matrix = sp.csr_matrix((data, indices, indptr), shape=(len(rows), len(ids)))
    collection = anchors.Collection("scale", sp.csr_matrix((0, len(ids))), matrix)
    shared: dict = {}
    engines = []
    for algorithm in LEXIR_ALGORITHMS:
        engine = anchors.Lexir(algorithm, shared=shared)
        engine.open(collection, folder)
        engines.append(engine)
    return engines


def pisa_engines(folder: Path, queries: list[dict[str, int]]) -> list[anchors.Engine]:
    retriever = anchors.open_pisa(folder)
    engines = []
    for algorithm in PISA_ALGORITHMS:
        engine = anchors.Pisa(algorithm)
        engine.attach(retriever, [{t: float(w) for t, w in q.items()} for q in queries])
        engines.append(engine)
    return engines


def bmp_engines(folder: Path, queries: list[dict[str, int]]) -> list[anchors.Engine]:
    import bmp

    searcher = bmp.Searcher(str(folder / "bmp.index"))
    indexed = set(json.loads((folder / "terms.json").read_text()))
    engines = []
    for alpha in BMP_ALPHAS:
        engine = anchors.Bmp(BMP_BLOCK, alpha)
        engine.attach(searcher, [{t: float(w) for t, w in q.items()} for q in queries], indexed)
        engines.append(engine)
    return engines


def seismic_engines(folder: Path, queries: list[dict[str, int]], vocabulary: list[str], num_docs: int,
                    n_postings: int | None) -> list[anchors.Engine]:
    import seismic

    ids = {token: i for i, token in enumerate(vocabulary)}
    with anchors._quiet():
        index = seismic.SeismicIndex.load(str(folder / "seismic.index.seismic"))
    engines = []
    for query_cut, heap_factor in SEISMIC_QUERY:
        engine = anchors.Seismic(seismic_postings(num_docs, n_postings), SEISMIC_BUILD["centroid_fraction"],
                                 SEISMIC_BUILD["summary_energy"], query_cut, heap_factor)
        engine.attach(index, [{str(ids[t]): float(w) for t, w in q.items() if t in ids} for q in queries])
        engines.append(engine)
    return engines


def search(args: argparse.Namespace) -> None:
    """Time every built engine's single-thread top-10 on the queries, engines taking turns; write the rows
    (latencies and found ids) to args.out."""
    queries = [vector for _, vector in read_vectors(args.queries)][:args.max_queries]
    engines: list[anchors.Engine] = []
    if args.lexir:
        engines += lexir_engines(args.lexir, queries)
    if args.pisa:
        engines += pisa_engines(args.pisa, queries)
    if args.bmp:
        engines += bmp_engines(args.bmp, queries)
    if args.seismic:
        vocabulary = json.loads(args.vocabulary.read_text())
        engines += seismic_engines(args.seismic, queries, vocabulary, args.num_docs, args.seismic_postings)
    if args.only:
        engines = [engine for engine in engines if engine.name in args.only]
    rows = []
    for engine, timed in zip(engines, query_speed.time_queries(engines, len(queries), args.passes)):
        results = [(np.asarray(docs, dtype=np.int64).tolist(), np.asarray(scores, dtype=np.float64).tolist())
                   for docs, scores in timed.pop("results")]
        rows.append({"engine": engine.name, "exact": engine.exact, **timed, "results": results})
    args.out.write_text(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build")
    build.add_argument("engine", choices=("pisa", "bmp", "seismic"))
    build.add_argument("corpus", type=Path)
    build.add_argument("folder", type=Path)
    build.add_argument("--vocabulary", type=Path, help="JSON list of tokens (Seismic's component ids)")
    build.add_argument("--seismic-postings", type=int, help="Seismic's n_postings (default: scaled to the corpus)")
    timing = commands.add_parser("search")
    timing.add_argument("queries", type=Path)
    timing.add_argument("out", type=Path)
    for engine in ("lexir", "pisa", "bmp", "seismic"):
        timing.add_argument(f"--{engine}", type=Path, help=f"{engine}'s index folder")
    timing.add_argument("--vocabulary", type=Path)
    timing.add_argument("--num-docs", type=int, default=0)
    timing.add_argument("--passes", type=int, default=2)
    timing.add_argument("--seismic-postings", type=int)
    timing.add_argument("--max-queries", type=int, help="the first N queries only")
    timing.add_argument("--only", nargs="*",
                        help="these engine configurations only (e.g. 'lexir auto' 'PISA maxscore')")
    args = parser.parse_args()
    if args.command == "search":
        search(args)
    elif args.engine == "pisa":
        build_pisa(args.corpus, args.folder)
    elif args.engine == "bmp":
        build_bmp(args.corpus, args.folder)
    else:
        build_seismic(args.corpus, args.folder, json.loads(args.vocabulary.read_text()), args.seismic_postings)


if __name__ == "__main__":
    main()
