"""Turning a matrix of document vectors into posting lists with per-term and per-block maxima."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lexir.index.quantize import Quantizer

DEFAULT_BLOCK_SIZE = 64


def build_postings(vectors: sp.csr_matrix, quantizer: Quantizer, block_size: int = DEFAULT_BLOCK_SIZE
                   ) -> dict[str, np.ndarray]:
    """Quantize document vectors (rows) and invert them into the arrays of `format.ARRAY_NAMES`."""
    vectors = vectors.tocsr()
    vectors.eliminate_zeros()
    quantized = sp.csr_matrix((quantizer.quantize(vectors.data), vectors.indices, vectors.indptr),
                              shape=vectors.shape)
    by_term = quantized.tocsc()
    by_term.sort_indices()
    offsets = by_term.indptr.astype(np.int64)
    impacts = by_term.data.astype(quantizer.dtype)
    doc_ids = by_term.indices.astype(np.int32)
    lengths = np.diff(offsets)
    term_max = np.zeros(len(lengths), dtype=quantizer.dtype)
    nonempty = lengths > 0
    if impacts.size:
        term_max[nonempty] = np.maximum.reduceat(impacts, offsets[:-1][nonempty])
    block_offsets, block_max, block_last_doc = block_arrays(offsets, doc_ids, impacts, block_size)
    return {
        "offsets": offsets, "doc_ids": doc_ids, "impacts": impacts, "term_max": term_max,
        "block_offsets": block_offsets, "block_max": block_max, "block_last_doc": block_last_doc,
        "doc_freq": lengths.astype(np.int64), "doc_nnz": np.diff(vectors.indptr).astype(np.int32),
    }


def block_arrays(offsets: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, block_size: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split every posting list into blocks of `block_size` postings (the last one may be shorter)."""
    lengths = np.diff(offsets)
    blocks_per_term = (lengths + block_size - 1) // block_size
    block_offsets = np.concatenate([[0], np.cumsum(blocks_per_term)]).astype(np.int64)
    term_of_block = np.repeat(np.arange(len(lengths)), blocks_per_term)
    rank_in_term = np.arange(block_offsets[-1]) - block_offsets[:-1][term_of_block]
    starts = offsets[:-1][term_of_block] + rank_in_term * block_size
    ends = np.minimum(starts + block_size, offsets[1:][term_of_block])
    block_max = np.maximum.reduceat(impacts, starts) if starts.size else np.zeros(0, impacts.dtype)
    block_last_doc = doc_ids[ends - 1] if ends.size else np.zeros(0, np.int32)
    return block_offsets, block_max.astype(impacts.dtype), block_last_doc.astype(np.int32)
