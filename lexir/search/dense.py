"""Top-k over an index's dense side: encode the query with the dense side's own encoder, ask FAISS.

Scores are inner products of the query and document vectors (cosine for normalized encoders
such as MiniLM). The number of hits is clamped to the number of documents; k <= 0 and empty
queries are errors, as in sparse search.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from lexir.encoders.dense import DenseEncoder
from lexir.encoders.registry import check_same_encoder, dense_encoder_from_spec
from lexir.errors import LexirError
from lexir.index.dense import DenseIndex
from lexir.index.reader import InvertedIndex
from lexir.search.searcher import RankedNums, clamp_k


class DenseSearcher:
    """Searches the dense side of one index directory.

    Args:
        index: an index directory or an opened InvertedIndex (its documents number the FAISS rows).
        encoder: reuse an already loaded dense encoder; it must match the dense side's spec.
        runtime: encoder settings that do not change vectors (batch_size, threads).
    """

    def __init__(self, index: InvertedIndex | str | Path, encoder: DenseEncoder | None = None,
                 **runtime: object) -> None:
        self.index = index if isinstance(index, InvertedIndex) else InvertedIndex(index)
        self.dense = DenseIndex(self.index.path, self.index.docstore)
        self.runtime = runtime
        if encoder is not None:
            check_same_encoder(self.dense.manifest.encoder, encoder.spec)
            self.__dict__["encoder"] = encoder

    @cached_property
    def encoder(self) -> DenseEncoder:
        encoder = dense_encoder_from_spec(self.dense.manifest.encoder, **self.runtime)
        check_same_encoder(self.dense.manifest.encoder, encoder.spec)
        return encoder

    def warm_up(self) -> None:
        """Load the encoder's model so that it is not counted in the first query's time."""
        _ = self.encoder.model

    def encode(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors [len(queries), dim]."""
        for query in queries:
            if not isinstance(query, str) or not query.strip():
                raise LexirError("the query is empty; give at least one word (dense search takes text queries)")
        return self.encoder.encode_queries(queries)

    def rank(self, vectors: np.ndarray, k: int) -> list[RankedNums]:
        """Top-k document numbers and scores for each query vector (one FAISS call)."""
        scores, nums = self.dense.search(vectors, clamp_k(k, self.index.num_docs))
        return [RankedNums(row_nums[row_nums >= 0].astype(np.int64), row_scores[row_nums >= 0])
                for row_nums, row_scores in zip(nums, scores)]

    def rank_one(self, vector: np.ndarray, k: int) -> RankedNums:
        """Top-k of one query vector ([dim] or [1, dim])."""
        return self.rank(np.reshape(vector, (1, -1)), k)[0]
