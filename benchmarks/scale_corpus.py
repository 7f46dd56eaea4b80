"""An MS MARCO-shaped corpus resampled from real SPLADE vectors, written as Pyserini JsonVectorCollection.

Synthetic documents with independent terms defeat dynamic pruning (docs/benchmarks.md), so this keeps
real term co-occurrence instead: every generated document is one real document vector (drawn with
replacement), pruned to its largest weights so that the mean length hits MS MARCO's ~115 postings, then
perturbed: a random fraction of its terms is dropped, weights are jittered (log-normal), and a few terms
are swapped for a term that co-occurs with them (a random term of a random real document holding the
swapped-out term). Queries are the real query vectors, followed by perturbed copies (same recipe, no
pruning) up to the requested count. Weights are written as integers round(scale * w), capped at 255 so
every engine (BMP's u8 impacts included) indexes the same numbers. Seeded and streamed: chunks are
generated and written one at a time, so memory does not grow with the number of documents.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

MAX_IMPACT = 255
CHUNK = 20_000


@dataclass(frozen=True)
class Shape:
    """What to generate. `postings_per_doc` is the target mean after pruning and dropping."""

    num_docs: int
    num_queries: int = 1000
    postings_per_doc: float = 115.0
    drop: float = 0.1
    jitter: float = 0.1
    swap: float = 0.05
    scale: float = 100.0
    seed: int = 0


def prune_to_mean(pool: sp.csr_matrix, mean_length: float) -> sp.csr_matrix:
    """Keep each row's largest weights, the same fraction of every row, so the mean length is about
    `mean_length` (rows are never lengthened)."""
    lengths = np.diff(pool.indptr)
    fraction = min(1.0, mean_length / max(lengths.mean(), 1e-9))
    keep = np.maximum(1, np.rint(lengths * fraction)).astype(np.int64)
    keep = np.minimum(keep, lengths)
    indices, data = [], []
    for r in range(pool.shape[0]):
        span = slice(pool.indptr[r], pool.indptr[r + 1])
        largest = np.argsort(-pool.data[span], kind="stable")[:keep[r]]
        kept = largest[np.argsort(pool.indices[span][largest])]
        indices.append(pool.indices[span][kept])
        data.append(pool.data[span][kept])
    indptr = np.concatenate([[0], np.cumsum(keep)])
    if not indices:
        return sp.csr_matrix(pool.shape, dtype=np.float32)
    data, indices = np.concatenate(data).astype(np.float32), np.concatenate(indices)
    return sp.csr_matrix((data, indices, indptr), shape=pool.shape)


class Resampler:
    """Draws perturbed copies of the rows of `pool`; co-occurring terms come from `neighbours` (CSR whose
    rows are real documents, same vocabulary)."""

    def __init__(self, pool: sp.csr_matrix, neighbours: sp.csr_matrix, shape: Shape) -> None:
        self.pool, self.neighbours, self.shape = pool, neighbours, shape
        self.by_term = neighbours.tocsc()
        self.df = np.diff(self.by_term.indptr)
        self.neighbour_lengths = np.diff(neighbours.indptr)

    def rows(self, rng: np.random.Generator, sources: np.ndarray, perturb: np.ndarray) -> sp.csr_matrix:
        """Integer-weighted copies of pool rows `sources`, perturbed where `perturb` is set."""
        pool, shape = self.pool, self.shape
        lengths = np.diff(pool.indptr)[sources]
        row_of = np.repeat(np.arange(len(sources)), lengths)
        starts = np.repeat(pool.indptr[sources] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        position = starts + np.arange(row_of.size)
        terms, weights = pool.indices[position].astype(np.int64), pool.data[position].astype(np.float64)
        touched = perturb[row_of]
        keep = ~touched | (rng.random(row_of.size) >= shape.drop)
        row_of, terms, weights, touched = row_of[keep], terms[keep], weights[keep], touched[keep]
        swap = touched & (rng.random(row_of.size) < shape.swap) & (self.df[terms] > 0)
        terms[swap], weights[swap] = self._cooccurring(rng, terms[swap])
        weights[touched] *= np.exp(rng.normal(0.0, shape.jitter, int(touched.sum())))
        impacts = np.minimum(MAX_IMPACT, np.rint(weights * shape.scale))
        return _merge(row_of, terms, impacts, len(sources), pool.shape[1])

    def _cooccurring(self, rng: np.random.Generator, terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each term, a random term (and its weight) of a random real document that holds it."""
        holder = self.by_term.indices[self.by_term.indptr[terms] + (rng.random(terms.size) * self.df[terms]).astype(
            np.int64)]
        position = self.neighbours.indptr[holder] + (rng.random(terms.size) * self.neighbour_lengths[holder]).astype(
            np.int64)
        return self.neighbours.indices[position].astype(np.int64), self.neighbours.data[position].astype(np.float64)


def _merge(row_of: np.ndarray, terms: np.ndarray, impacts: np.ndarray, rows: int, columns: int) -> sp.csr_matrix:
    """CSR of (row, term, impact) triples: duplicates (a swap onto a term already present) keep the largest
    impact, zeros are dropped, terms are sorted within rows."""
    keys = row_of.astype(np.int64) * columns + terms
    order = np.lexsort((-impacts, keys))
    keys, impacts = keys[order], impacts[order]
    first = np.concatenate([[True], keys[1:] != keys[:-1]]) & (impacts > 0)
    keys, impacts = keys[first], impacts[first]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(keys // columns, minlength=rows))])
    return sp.csr_matrix((impacts.astype(np.float32), (keys % columns).astype(np.int32), indptr),
                         shape=(rows, columns))


def _lines(matrix: sp.csr_matrix, tokens: list[str], first_id: int, prefix: str, document: bool) -> Iterator[str]:
    for r in range(matrix.shape[0]):
        span = slice(matrix.indptr[r], matrix.indptr[r + 1])
        vector = {tokens[t]: int(w) for t, w in zip(matrix.indices[span].tolist(), matrix.data[span].tolist())}
        record = {"id": f"{prefix}{first_id + r}", "contents": "", "vector": vector} if document else \
            {"id": f"{prefix}{first_id + r}", "vector": vector}
        yield json.dumps(record, separators=(",", ":")) + "\n"


@contextmanager
def _gzip_text(path: Path) -> Iterator[io.TextIOWrapper]:
    """A text stream into a gzip file whose bytes depend on the text alone (no name or timestamp in the header)."""
    with open(path, "wb") as raw, gzip.GzipFile("", "wb", 1, raw, mtime=0) as packed, \
            io.TextIOWrapper(packed, encoding="utf-8") as handle:
        yield handle


def write_corpus(path: Path, documents: sp.csr_matrix, tokens: list[str], shape: Shape,
                 progress: bool = True) -> dict:
    """Stream `shape.num_docs` resampled documents to `path` (JSONL.gz, written to a temporary name and
    renamed when complete); returns the statistics also saved beside it as `path`.json."""
    rng = np.random.default_rng([shape.seed, 1])
    resampler = Resampler(prune_to_mean(documents, shape.postings_per_doc / (1 - shape.drop)), documents, shape)
    postings, longest = 0, 0
    partial = path.with_name(path.name + ".partial")
    with _gzip_text(partial) as handle, \
            tqdm(total=shape.num_docs, desc=f"writing {path.name}", unit="doc", disable=not progress) as bar:
        for start in range(0, shape.num_docs, CHUNK):
            rows = min(CHUNK, shape.num_docs - start)
            chunk = resampler.rows(rng, rng.integers(documents.shape[0], size=rows), np.ones(rows, bool))
            postings += chunk.nnz
            longest = max(longest, int(np.diff(chunk.indptr).max(initial=0)))
            handle.writelines(_lines(chunk, tokens, start, "", document=True))
            bar.update(rows)
    os.replace(partial, path)
    stats = {"shape": asdict(shape), "documents": shape.num_docs, "postings": postings,
             "postings_per_doc": postings / max(shape.num_docs, 1), "longest": longest}
    path.with_name(path.name + ".json").write_text(json.dumps(stats, indent=1))
    return stats


def write_queries(path: Path, queries: sp.csr_matrix, documents: sp.csr_matrix, tokens: list[str],
                  shape: Shape) -> dict:
    """The real queries as they are, then perturbed copies of them (cycling) up to `shape.num_queries`;
    JSONL {"id", "vector"} with integer weights."""
    rng = np.random.default_rng([shape.seed, 2])
    queries = queries[np.diff(queries.indptr) > 0]
    sources = np.arange(shape.num_queries) % queries.shape[0]
    resampler = Resampler(sp.csr_matrix(queries, dtype=np.float32), documents, shape)
    matrix = resampler.rows(rng, sources, np.arange(shape.num_queries) >= queries.shape[0])
    matrix = matrix[np.diff(matrix.indptr) > 0]
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.writelines(_lines(matrix, tokens, 0, "q", document=False))
    os.replace(partial, path)
    return {"queries": matrix.shape[0], "terms_per_query": matrix.nnz / max(matrix.shape[0], 1)}
