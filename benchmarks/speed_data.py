"""Vectors for the query-speed benchmark: real SPLADE-tiny encodings (cached), and synthetic look-alikes.

Real sets:
  imdb    every 10th review of imdb-100k (SPLADE-tiny, cached under .cache/lexir/bench/); queries are
          held-out review sentences, nfcorpus test queries and Cranfield queries (~1,000). BM25 sets use
          every 10th review, or all 100k (`imdb_bm25(stride=1)`).
  nfcorpus  the quick-start index indexes/nfcorpus-splade-tiny (read, never modified; built when missing)
            with its test queries.
Synthetic sets draw document lengths, query lengths, term frequencies and weights from a real set's
empirical distributions with independent terms (no term correlation: a hard case for pruning).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LEXIR_CACHE", ROOT / ".cache" / "lexir")) / "bench"
IMDB = ROOT.parent / "shared" / "data" / "corpora" / "imdb-100k.jsonl.gz"
IMDB_STRIDE = 10
ENCODE_CHUNK = 500
QUICK_START_CHUNK = 2048  # `lexir index build`'s default, so either can resume the other's interrupted build
logger = logging.getLogger(__name__)


@dataclass
class VectorSet:
    """Document and query vectors (float32 CSR, same vocabulary) with a name for reports."""

    name: str
    documents: sp.csr_matrix
    queries: sp.csr_matrix
    vocabulary_size: int


def _imdb_reviews() -> list[tuple[int, str]]:
    with gzip.open(IMDB, "rt", encoding="utf-8") as handle:
        return [(i, json.loads(line)["text"]) for i, line in enumerate(handle)]


def _held_out_sentences(reviews: list[tuple[int, str]], count: int, seed: int = 0) -> list[str]:
    """One 5-20 word sentence from each of `count` reviews that are not in the indexed subset."""
    rng = np.random.default_rng(seed)
    pool = [text for i, text in reviews if i % IMDB_STRIDE == IMDB_STRIDE // 2]
    sentences = []
    for position in rng.permutation(len(pool)):
        text = re.sub(r"<br\s*/?>", " ", pool[position])
        choices = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 5 <= len(s.split()) <= 20]
        if choices:
            sentences.append(choices[int(rng.integers(len(choices)))])
        if len(sentences) == count:
            break
    return sentences


def real_queries(held_out: int = 450) -> list[str]:
    """Held-out review sentences + nfcorpus test queries + Cranfield queries."""
    import ir_datasets

    texts = _held_out_sentences(_imdb_reviews(), held_out)
    texts += [q.text for q in ir_datasets.load("beir/nfcorpus/test").queries_iter()]
    texts += [q.text for q in ir_datasets.load("cranfield").queries_iter()]
    return texts


def encode_cached(name: str, texts: list[str], encoder, kind: str, cache: Path = CACHE) -> sp.csr_matrix:
    """Encode `texts` in chunks saved under cache/name/ so an interrupted run resumes where it stopped."""
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for start in tqdm(range(0, len(texts), ENCODE_CHUNK), desc=f"encoding {name}", unit="chunk"):
        path = folder / f"{start:07d}.npz"
        if not path.is_file():
            began = time.perf_counter()
            chunk = texts[start:start + ENCODE_CHUNK]
            matrix = encoder.encode_documents(chunk) if kind == "documents" else encoder.encode_queries(chunk)
            sp.save_npz(folder / "tmp.npz", matrix)
            os.replace(folder / "tmp.npz", path)
            logger.info("%s: encoded %d-%d (%.1f texts/s)", name, start, start + len(chunk),
                        len(chunk) / (time.perf_counter() - began))
        parts.append(sp.load_npz(path))
    return sp.vstack(parts, format="csr", dtype=np.float32)


def imdb_texts(stride: int = IMDB_STRIDE) -> list[str]:
    return [re.sub(r"<br\s*/?>", " ", text) for i, text in _imdb_reviews() if i % stride == 0]


def imdb_splade(encoder=None, limit: int | None = None) -> VectorSet:
    """SPLADE-tiny vectors of every 10th imdb review (10,000 docs) and ~1,000 real queries (cached)."""
    from lexir.encoders import create_encoder

    encoder = encoder or create_encoder("splade-tiny", batch_size=16)
    texts = imdb_texts()[:limit]
    documents = encode_cached(f"imdb-{len(texts)}-splade-tiny-docs", texts, encoder, "documents")
    queries = encode_cached("imdb-queries-splade-tiny", real_queries(), encoder, "queries")
    return VectorSet(f"imdb-{len(texts) // 1000}k splade-tiny", documents, queries, len(encoder.vocabulary))


def imdb_bm25(limit: int | None = None, stride: int = IMDB_STRIDE) -> VectorSet:
    """BM25 (lexir's analyzer, k1=0.9, b=0.4) over every `stride`-th review (1: all 100k); queries are term
    counts."""
    from lexir.encoders import create_encoder

    texts = imdb_texts(stride)[:limit]
    encoder = create_encoder("bm25")
    encoder.fit(texts)
    return VectorSet(f"imdb-{len(texts) // 1000}k bm25", encoder.encode_documents(texts),
                     encoder.encode_queries(real_queries()), len(encoder.vocabulary))


def inference_free(splade: VectorSet) -> VectorSet:
    """SPLADE-tiny documents with inference-free queries: tokenizer ids weighted by the corpus IDF."""
    from lexir.encoders import create_encoder

    encoder = create_encoder("splade-tiny-if", idf="corpus", drop_stopwords=True)
    encoder.use_corpus_statistics(np.bincount(splade.documents.indices, minlength=splade.vocabulary_size),
                                  splade.documents.shape[0])
    name = splade.name.replace("splade-tiny", "inference-free")
    return VectorSet(name, splade.documents, encoder.encode_queries(real_queries()), splade.vocabulary_size)


def quick_start_index(path: Path) -> Path:
    """The README's quick-start index at `path`, built first when it is missing (a fresh clone has none)."""
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index
    from lexir.index.format import is_index

    if not is_index(path):
        print(f"{path} is missing: building it as `lexir index build beir/nfcorpus --encoder splade-tiny --out "
              f"{path}` does (minutes on a laptop; an interrupted build resumes)", flush=True)
        build_index(Corpus("beir/nfcorpus"), create_encoder("splade-tiny"), path, chunk_size=QUICK_START_CHUNK,
                    resume=True, progress=False)
    return path


def nfcorpus_index(path: Path = ROOT / "indexes" / "nfcorpus-splade-tiny", encoder=None) -> VectorSet:
    """The stored impacts of the quick-start index (read only; built when missing) and its encoder's vectors
    of nfcorpus test queries."""
    import ir_datasets

    from lexir.index import InvertedIndex
    from lexir.search import open_search

    index = InvertedIndex(quick_start_index(path))
    doc_ids, impacts = index.decoded()
    by_term = sp.csc_matrix((impacts.astype(np.float32), doc_ids, np.asarray(index.offsets)),
                            shape=(index.num_docs, index.num_terms))
    sparse = open_search(path, encoder=encoder).retrievers["sparse"]
    queries = sparse.encode([q.text for q in ir_datasets.load("beir/nfcorpus/test").queries_iter()]).vectors
    return VectorSet("nfcorpus splade-tiny", by_term.tocsr(), queries, index.num_terms)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    imdb_splade()


def _fitted_probabilities(frequency: np.ndarray, rows: int) -> np.ndarray:
    """Per-term draw probabilities such that drawing with replacement and merging duplicates gives each term
    its observed fraction of rows: P(t in row) = 1 - exp(-draws * p_t) = frequency_t / rows."""
    fraction = np.minimum(frequency / rows, 1 - 1e-6)
    rate = -np.log1p(-fraction)
    return rate / rate.sum(), float(rate.sum())


def _impact_sampler(matrix: sp.csr_matrix, frequency: np.ndarray, buckets: int = 10):
    """Weights drawn from the real weights of terms of similar frequency (terms bucketed by frequency rank)."""
    by_term = matrix.tocsc()
    order = np.argsort(-frequency)
    bucket_of = np.empty(len(frequency), dtype=np.int64)
    present = order[frequency[order] > 0]
    for b, chunk in enumerate(np.array_split(present, buckets)):
        bucket_of[chunk] = b
    bucket_of[frequency == 0] = buckets - 1
    term_of_posting = np.repeat(np.arange(by_term.shape[1]), np.diff(by_term.indptr))
    pools = [by_term.data[bucket_of[term_of_posting] == b] for b in range(buckets)]

    def sample(rng: np.random.Generator, terms: np.ndarray) -> np.ndarray:
        values = np.empty(len(terms), dtype=np.float32)
        for b, pool in enumerate(pools):
            mask = bucket_of[terms] == b
            values[mask] = rng.choice(pool, size=int(mask.sum())) if pool.size else 1.0
        return values

    return sample


def _synthetic_rows(rng: np.random.Generator, real: sp.csr_matrix, count: int, chunk: int = 20_000) -> sp.csr_matrix:
    """`count` rows whose nonzeros per row, term frequencies and weights follow `real`'s."""
    frequency = np.bincount(real.indices, minlength=real.shape[1]).astype(np.float64)
    probabilities, draws_per_row = _fitted_probabilities(frequency, real.shape[0])
    cumulative = np.cumsum(probabilities)
    sample_values = _impact_sampler(real, frequency)
    real_nnz = np.diff(real.indptr)
    parts = []
    for start in range(0, count, chunk):
        rows = min(chunk, count - start)
        draws = np.maximum(1, np.rint(rng.choice(real_nnz, size=rows) / real_nnz.mean() * draws_per_row)).astype(
            np.int64)
        row_of = np.repeat(np.arange(rows), draws)
        terms = np.minimum(np.searchsorted(cumulative, rng.random(row_of.size) * cumulative[-1]), real.shape[1] - 1)
        keys = np.sort(row_of * real.shape[1] + terms)
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # np.unique's hashing is far slower here
        row_of, terms = keys // real.shape[1], keys % real.shape[1]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=rows))])
        parts.append(sp.csr_matrix((sample_values(rng, terms), terms, indptr), shape=(rows, real.shape[1])))
    return sp.vstack(parts, format="csr", dtype=np.float32)


def synthetic(real: VectorSet, num_docs: int, num_queries: int = 1000, seed: int = 0) -> VectorSet:
    """Documents and queries drawn to match `real`'s statistics, with independent terms."""
    rng = np.random.default_rng(seed)
    documents = _synthetic_rows(rng, real.documents, num_docs)
    queries = _synthetic_rows(rng, real.queries, num_queries)
    kind = "inference-free queries" if "inference-free" in real.name else "splade-tiny queries"
    return VectorSet(f"synthetic-{num_docs // 1000}k ({kind})", documents, queries, real.vocabulary_size)
