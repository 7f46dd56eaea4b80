"""Request and response bodies of the REST API (pydantic); the size limits are in limits.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lexir.api.limits import Limits
from lexir.search.feedback import DENSE_FEEDBACK, MAX_FEEDBACK_DOCS, Feedback
from lexir.search.fusion import DEFAULT_FUSION_DEPTH, RRF_K
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
    prf: Literal["rm3", "rocchio"] | None = Field(default=None, description="pseudo-relevance feedback (sparse)")
    prf_docs: int = Field(default=Feedback.docs, ge=1, le=MAX_FEEDBACK_DOCS, description="feedback documents")
    prf_terms: int = Field(default=Feedback.terms, ge=1, le=1000, description="expansion terms kept")
    prf_weight: float = Field(default=Feedback.weight, ge=0, le=1, description="the original query's share")
    dense_prf: bool = Field(default=False, description="Rocchio feedback of the dense side")
    dense_prf_docs: int = Field(default=DENSE_FEEDBACK.docs, ge=1, le=MAX_FEEDBACK_DOCS)
    dense_prf_weight: float = Field(default=DENSE_FEEDBACK.weight, ge=0, le=1)


class SearchQuery(SearchSettings):
    """GET /search: one query and its settings, as query parameters."""

    q: str = Field(min_length=1, description="the query")


class SearchRequest(SearchSettings):
    """POST /search: one query (`q`) or a batch (`queries`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    q: str | None = Field(default=None, description="one query")
    queries: list[str] | None = Field(default=None, description="a batch of queries (answered as a list)")


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
