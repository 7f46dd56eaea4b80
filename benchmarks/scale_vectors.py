"""The real SPLADE-tiny vectors the scale corpus is resampled from (encoded once, cached in chunks).

Documents: IMDB reviews (a seeded shuffle of the 100k, so a smaller `imdb_docs` is a random sample and a
prefix of the larger one's cache) and NFCorpus's 3,633 documents. Queries: NFCorpus test and Cranfield.
Encoding is resumable: chunks land in DATA_DIR/<name>/ as they are done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import speed_data

IMDB_REVIEWS = 100_000


@dataclass
class RealVectors:
    """Float SPLADE-tiny weights (CSR over the bert-base-uncased vocabulary) and the vocabulary's tokens."""

    documents: sp.csr_matrix
    queries: sp.csr_matrix
    tokens: list[str]


def _imdb_order(count: int) -> np.ndarray:
    return np.random.default_rng(0).permutation(IMDB_REVIEWS)[:count]


def _nfcorpus_texts() -> list[str]:
    from lexir.corpus import Corpus

    return [document.contents for document in Corpus("beir/nfcorpus")]


def _query_texts() -> list[str]:
    import ir_datasets

    texts = [q.text for q in ir_datasets.load("beir/nfcorpus/test").queries_iter()]
    return texts + [q.text for q in ir_datasets.load("cranfield").queries_iter()]


def real_vectors(data_dir: Path, imdb_docs: int = IMDB_REVIEWS) -> RealVectors:
    """Encode (or load from data_dir) the real document and query vectors."""
    from lexir.encoders import create_encoder

    encoder = create_encoder("splade-tiny", batch_size=32)
    reviews = speed_data.imdb_texts(stride=1)
    imdb = speed_data.encode_cached("imdb-shuffled-splade-tiny-docs", [reviews[i] for i in _imdb_order(imdb_docs)],
                                    encoder, "documents", cache=data_dir)
    nfcorpus = speed_data.encode_cached("nfcorpus-splade-tiny-docs", _nfcorpus_texts(), encoder, "documents",
                                        cache=data_dir)
    queries = speed_data.encode_cached("queries-splade-tiny", _query_texts(), encoder, "queries", cache=data_dir)
    documents = sp.vstack([imdb, nfcorpus], format="csr", dtype=np.float32)
    return RealVectors(documents, queries.astype(np.float32), list(encoder.vocabulary))
