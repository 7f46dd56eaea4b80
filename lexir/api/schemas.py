"""Request and response bodies of the REST API (pydantic); the size limits are in limits.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lexir.api.limits import Limits
from lexir.search.conversation import DEFAULT_MAX_HISTORY
from lexir.search.feedback import DENSE_FEEDBACK, MAX_FEEDBACK_DOCS, Feedback
from lexir.search.fusion import DEFAULT_FUSION_DEPTH, RRF_K
from lexir.search.options import SearchOptions
from lexir.search.results import Hit

__all__ = ["Limits"]  # re-exported: create_app(limits=Limits(...))

Mode = Literal["sparse", "dense", "hybrid"]
Algorithm = Literal["auto", "exhaustive", "maxscore", "block_max_maxscore"]


class SearchSettings(BaseModel):
    """How to search: the same options as `lexir search` (query weighting and query options are the server's)."""

    model_config = ConfigDict(allow_inf_nan=False)

    k: int = Field(default=10, gt=0, description="hits per query")
    mode: Mode = "sparse"
    explain: bool = Field(default=False, description="per-term (or per-retriever) parts of each score")
    text: bool = Field(default=False, description="include titles and texts")
    algorithm: Algorithm = Field(default="auto", description="exact top-k algorithm (sparse)")
    heap_factor: float = Field(default=1.0, description="1 = exact; below 1 prunes harder (approximate, sparse)")
    query_cut: int | None = Field(default=None, description="keep only the N query terms of largest bound (sparse)")
    fuse: Literal["rrf", "convex"] | None = Field(default=None, description="how hybrid lists are fused")
    weights: list[float] | None = Field(default=None, description="one fusion weight per retriever: sparse, dense")
    normalization: Literal["minmax", "zscore"] | None = Field(default=None, description="convex fusion's scores")
    rrf_k: int = Field(default=RRF_K, description="the k of reciprocal rank fusion")
    fusion_depth: int = Field(default=DEFAULT_FUSION_DEPTH, description="hits taken from each list before fusing")
    prf: Literal["rm3", "rocchio", "auto"] | None = Field(
        default=None, description="pseudo-relevance feedback (sparse; auto: rm3 on BM25, rocchio on the others)")
    prf_docs: int = Field(default=Feedback.docs, ge=1, le=MAX_FEEDBACK_DOCS, description="feedback documents")
    prf_terms: int = Field(default=Feedback.terms, ge=1, le=1000, description="expansion terms kept")
    prf_weight: float = Field(default=Feedback.weight, ge=0, le=1, description="the original query's share")
    dense_prf: bool = Field(default=False, description="Rocchio feedback of the dense side")
    dense_prf_docs: int = Field(default=DENSE_FEEDBACK.docs, ge=1, le=MAX_FEEDBACK_DOCS)
    dense_prf_weight: float = Field(default=DENSE_FEEDBACK.weight, ge=0, le=1)


def settings_of(options: SearchOptions) -> dict[str, Any]:
    """The request settings that ask for `options` (a preset's), as far as its search mode uses them: what a
    server started with `--preset` takes for the settings a request leaves out."""
    settings: dict[str, Any] = {"mode": options.mode, "algorithm": options.algorithm,
                                "heap_factor": options.heap_factor, "query_cut": options.query_cut,
                                "fusion_depth": options.fusion_depth}
    if options.fusion is not None:
        fusion = options.fusion
        settings.update(fuse=fusion.method, weights=list(fusion.weights) if fusion.weights is not None else None,
                        normalization=fusion.normalization if fusion.method == "convex" else None,
                        rrf_k=fusion.rrf_k)
    if options.prf is not None:
        settings.update(prf=options.prf.method, prf_docs=options.prf.docs, prf_terms=options.prf.terms,
                        prf_weight=options.prf.weight)
    if options.dense_prf is not None:
        settings.update(dense_prf=True, dense_prf_docs=options.dense_prf.docs,
                        dense_prf_weight=options.dense_prf.weight)
    return settings


def with_defaults(settings: SearchSettings, defaults: dict[str, Any]) -> SearchSettings:
    """`settings` with `defaults` (settings_of a preset) for the fields the request left out; defaults of a side
    or of fusion that the request's mode does not search are dropped (a preset's hybrid fusion does not apply to
    a request for sparse search)."""
    mode = settings.mode if "mode" in settings.model_fields_set else defaults.get("mode", settings.mode)
    unused = set()
    if mode != "hybrid":
        unused |= {"fuse", "weights", "normalization", "rrf_k"}
    if mode == "dense":
        unused |= {"prf", "prf_docs", "prf_terms", "prf_weight"}
    if mode == "sparse":
        unused |= {"dense_prf", "dense_prf_docs", "dense_prf_weight"}
    return settings.model_copy(update={name: value for name, value in defaults.items()
                                       if name not in settings.model_fields_set and name not in unused})


class SearchQuery(SearchSettings):
    """GET /search: one query and its settings, as query parameters."""

    q: str = Field(min_length=1, description="the query")


class TurnBody(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    text: str


class SearchRequest(SearchSettings):
    """POST /search: one query (`q`), a batch (`queries`) or a conversation (`conversation`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    q: str | None = Field(default=None, description="one query")
    queries: list[str] | None = Field(default=None, description="a batch of queries (answered as a list)")
    conversation: list[TurnBody] | None = Field(
        default=None, description="turns oldest first, the last the user's question; searched flattened as DiSCo "
                                  "does (the question, then earlier turns newest first, by the tokenizer's separator)")
    max_history: int = Field(default=DEFAULT_MAX_HISTORY, ge=0, le=100,
                             description="conversation: earlier turns kept, newest first")


class SearchResponse(BaseModel):
    query: str
    hits: list[Hit]
    took_ms: float
    partial: bool = Field(default=False, description="a sharded index answered without some shards (--allow-partial)")
    missing_shards: list[str] = Field(default_factory=list, description="the shards that did not answer")


class DocumentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=512)
    title: str = ""
    text: str = ""


class AddDocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentBody] = Field(min_length=1)


class WriteResponse(BaseModel):
    generation: int = Field(description="the commit that holds the change")
    added: int = 0
    deleted: int = 0


class StatsResponse(BaseModel):
    documents: int
    terms: int
    postings: int
    segments: int
    deleted: int
    bytes: int
    generation: int
    encoder: dict[str, object]
    dense: bool
    shards: dict[str, dict[str, object] | None] | None = Field(
        default=None, description="a sharded index: each shard's figures (null: the shard is down)")
    down: list[str] | None = Field(default=None, description="a sharded index: the shards that did not answer")


class ErrorResponse(BaseModel):
    error: str
    detail: list[dict[str, object]] | None = None
    shards: list[str] | None = Field(default=None, description="503: the shards of a sharded index that did not answer")
