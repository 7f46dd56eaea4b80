"""Every search option in one frozen value, validated once: what `lexir search`, `lexir eval`, the API and
Python all pass to `open_search`.

Options fall in two groups. Query encoding (`mode`, `query_weighting`, `query_options`) decides which
retrievers are opened and how their encoders weigh queries; ranking (`algorithm`, `heap_factor`,
`query_cut`, `fusion`, `fusion_depth`) only changes how the opened retrievers are asked, so a Searcher
can switch those per call without reopening anything (`Searcher.using`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from lexir.errors import LexirError
from lexir.search.algorithms import check_algorithm, check_heap_factor, check_query_cut
from lexir.search.feedback import Feedback
from lexir.search.fusion import DEFAULT_FUSION_DEPTH, RRF_K, Fusion

MODES = ("sparse", "dense", "hybrid")
QUERY_WEIGHTINGS = ("model", "idf", "model-idf")
ENCODING_FIELDS = ("mode", "query_weighting", "query_options", "prf", "dense_prf")
SPARSE_ONLY_FIELDS = ("query_weighting", "query_options", "algorithm", "heap_factor", "query_cut", "prf")


@dataclass(frozen=True)
class SearchOptions:
    """How to search.

    Args:
        mode: "sparse" (the inverted index), "dense" (the FAISS side) or "hybrid" (both, fused).
        query_weighting: "model" keeps the encoder's query weights; "idf" gives every query term the corpus
            IDF of the live documents; "model-idf" multiplies the two.
        query_options: query-side encoder options (inference-free: idf, query_tf, min_idf, drop_stopwords,
            max_query_terms), as (key, value) pairs; a mapping is accepted and stored sorted.
        algorithm: exact top-k algorithm: "auto", "exhaustive", "maxscore" or "block_max_maxscore".
        heap_factor: 1 is exact; below 1 pruning skips more documents (approximate, faster).
        query_cut: None (every term) or keep each query's N terms of largest bound (approximate, faster).
        fusion: how several retrievers' lists are fused (None: RRF when there are several, nothing otherwise).
        fusion_depth: hits taken from each retriever before fusing (at least the k asked for).
        prf: pseudo-relevance feedback of the sparse side (search/feedback.py: rm3 or rocchio), or None.
        dense_prf: Rocchio feedback of the dense side, or None.
    """

    mode: str = "sparse"
    query_weighting: str = "model"
    query_options: tuple[tuple[str, Any], ...] = field(default=())
    algorithm: str = "auto"
    heap_factor: float = 1.0
    query_cut: int | None = None
    fusion: Fusion | None = None
    fusion_depth: int = DEFAULT_FUSION_DEPTH
    prf: Feedback | None = None
    dense_prf: Feedback | None = None

    def __post_init__(self) -> None:
        if isinstance(self.query_options, Mapping):
            object.__setattr__(self, "query_options", tuple(sorted(self.query_options.items())))
        if self.mode not in MODES:
            raise LexirError(f"unknown search mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.query_weighting not in QUERY_WEIGHTINGS:
            raise LexirError(f"query weighting must be one of {', '.join(QUERY_WEIGHTINGS)}, "
                             f"got {self.query_weighting!r}")
        check_algorithm(self.algorithm)
        object.__setattr__(self, "heap_factor", check_heap_factor(self.heap_factor))
        check_query_cut(self.query_cut)
        if self.heap_factor < 1 and self.algorithm == "exhaustive":
            raise LexirError("a heap factor below 1 needs a pruning algorithm (maxscore, block_max_maxscore, auto)")
        if isinstance(self.fusion_depth, bool) or not isinstance(self.fusion_depth, int) or self.fusion_depth < 1:
            raise LexirError(f"the fusion depth must be at least 1 hit per retriever, got {self.fusion_depth!r}")
        if self.dense_prf is not None and self.mode == "sparse":
            raise LexirError("--dense-prf applies to the dense side; use --mode dense or hybrid")
        if self.dense_prf is not None and self.dense_prf.method != "rocchio":
            raise LexirError(f"the dense side takes rocchio feedback, not {self.dense_prf.method}")
        if self.mode == "dense":
            changed = [name for name in SPARSE_ONLY_FIELDS if getattr(self, name) != _DEFAULTS[name]]
            if changed:
                flags = ", ".join("--" + name.replace("_", "-") for name in changed)
                raise LexirError(f"{flags} apply to sparse search; --mode dense searches only the dense side "
                                 "(use --mode hybrid to search both)")

    @property
    def query_option_map(self) -> dict[str, Any]:
        return dict(self.query_options)

    def same_encoding(self, other: SearchOptions) -> bool:
        """Whether `other` opens the same retrievers with the same query encoders (only ranking differs)."""
        return all(getattr(self, name) == getattr(other, name) for name in ENCODING_FIELDS)

    def replace(self, **changes: Any) -> SearchOptions:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as recorded with results (JSON-ready)."""
        values: dict[str, Any] = {item.name: getattr(self, item.name) for item in fields(self)}
        values["query_options"] = self.query_option_map
        values["fusion"] = self.fusion.to_dict() if self.fusion is not None else None
        values["prf"] = self.prf.to_dict() if self.prf is not None else None
        values["dense_prf"] = self.dense_prf.to_dict() if self.dense_prf is not None else None
        return values


_DEFAULTS = {item.name: item.default for item in fields(SearchOptions)}


def fusion_of(method: str | None, weights: tuple[float, ...] | None, normalization: str | None,
              rrf_k: int = RRF_K) -> Fusion | None:
    """The Fusion these values ask for; None when they ask for none (several retrievers then use RRF)."""
    if normalization is not None and method != "convex":
        raise LexirError("normalization applies only to convex fusion (--fuse convex)")
    if method is None and weights is None and rrf_k == RRF_K:
        return None
    return Fusion(method=method or "rrf", weights=tuple(weights) if weights is not None else None,
                  normalization=normalization or "minmax", rrf_k=rrf_k)
