"""The FastAPI application: routes, limits, API keys, JSON errors.

Every error is a JSON body `{"error": ..., "detail": ...}` with a 4xx status (5xx only for bugs).
Create it with `create_app(index_dir, ...)`; `lexir serve` runs it under uvicorn, and with several
workers each process builds its own app from the LEXIR_SERVE_* environment (`app_from_environment`).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import lexir
from lexir.api.schemas import (
    AddDocumentsRequest,
    DocumentBody,
    ErrorResponse,
    Limits,
    SearchQuery,
    SearchRequest,
    SearchResponse,
    SearchSettings,
    StatsResponse,
    WriteResponse,
)
from lexir.api.security import require_key
from lexir.api.service import SearchService
from lexir.corpus import Document
from lexir.errors import LexirError
from lexir.index.live import DocumentNotFoundError
from lexir.search.options import SearchOptions, fusion_of

ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422)}


def create_app(index: Path | str, *, api_key: str | None = None, keys_for_reads: bool = False,
               cors_origins: list[str] | None = None, limits: Limits | None = None,
               max_segments: int | None = None) -> FastAPI:
    """A FastAPI app serving one index directory."""
    service = SearchService(index, max_segments=max_segments)
    limits = limits or Limits()
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.warm_up()  # load models and compile kernels before the first request, not during it
        yield

    app = FastAPI(title="lexir", version=lexir.__version__, description=f"Search over {Path(index).name}",
                  responses=ERRORS, lifespan=lifespan)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["*"], allow_headers=["*"])
    _add_error_handlers(app)

    def read_access(request: Request) -> None:
        if keys_for_reads:
            require_key(request, api_key, writes=False)

    def run_search(queries: list[str], settings: SearchSettings) -> list[SearchResponse]:
        for name, value, limit in (("k", settings.k, limits.max_k),
                                   ("fusion_depth", settings.fusion_depth, limits.max_fusion_depth)):
            if value > limit:
                raise HTTPException(422, f"{name} is {value}; at most {limit} hits per query")
        if len(queries) > limits.max_batch_queries:
            raise HTTPException(413, f"{len(queries)} queries; at most {limits.max_batch_queries} per request")
        for query in queries:
            if not query.strip():
                raise HTTPException(422, "the query is empty; give at least one word")
            if len(query) > limits.max_query_chars:
                raise HTTPException(413, f"a query of {len(query)} characters; at most {limits.max_query_chars}")
        options = SearchOptions(
            mode=settings.mode, algorithm=settings.algorithm, heap_factor=settings.heap_factor,
            query_cut=settings.query_cut, fusion_depth=settings.fusion_depth,
            fusion=fusion_of(settings.fuse, tuple(settings.weights) if settings.weights is not None else None,
                             settings.normalization, settings.rrf_k))
        results = service.search(queries, settings.k, options, settings.explain, settings.text)
        return [SearchResponse(**result.to_dict()) for result in results]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("lexir.api").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/search", response_model=SearchResponse)
    def search_get(request: Request, query: Annotated[SearchQuery, Query()]) -> SearchResponse:
        read_access(request)
        return run_search([query.q], query)[0]

    @app.post("/search", response_model=SearchResponse | list[SearchResponse])
    def search_post(request: Request, body: SearchRequest) -> SearchResponse | list[SearchResponse]:
        read_access(request)
        if (body.q is None) == (body.queries is None):
            raise HTTPException(422, "give either q (one query) or queries (a batch), not both or neither")
        if body.q is not None:
            return run_search([body.q], body)[0]
        return run_search(body.queries or [], body)

    @app.get("/documents/{doc_id}", response_model=DocumentBody)
    def get_document(request: Request, doc_id: str) -> DocumentBody:
        read_access(request)
        document = service.document(doc_id)
        return DocumentBody(id=document.id, title=document.title, text=document.text)

    @app.post("/documents", response_model=WriteResponse)
    def add_documents(request: Request, body: AddDocumentsRequest) -> WriteResponse:
        require_key(request, api_key, writes=True)
        if len(body.documents) > limits.max_batch_documents:
            raise HTTPException(413, f"{len(body.documents)} documents; at most {limits.max_batch_documents} "
                                     "per request")
        for document in body.documents:
            if len(document.title) + len(document.text) > limits.max_text_chars:
                raise HTTPException(413, f"document '{document.id}' has more than {limits.max_text_chars} "
                                         "characters")
        documents = [Document(d.id, d.title, d.text) for d in body.documents]
        return WriteResponse(generation=service.add(documents), added=len(documents))

    @app.delete("/documents/{doc_id}", response_model=WriteResponse)
    def delete_document(request: Request, doc_id: str) -> WriteResponse:
        require_key(request, api_key, writes=True)
        return WriteResponse(generation=service.delete(doc_id), deleted=1)

    @app.get("/stats", response_model=StatsResponse)
    def stats(request: Request) -> StatsResponse:
        read_access(request)
        return StatsResponse(**service.stats())

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """JSON error bodies for every failure a client can cause."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        detail = json.loads(json.dumps(error.errors(), default=str))
        first = detail[0] if detail else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"error": f"invalid request: {where}: {first.get('msg', 'bad value')}",
                             "detail": detail}, status_code=422)

    @app.exception_handler(DocumentNotFoundError)
    async def not_found(_: Request, error: DocumentNotFoundError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=404)

    @app.exception_handler(LexirError)
    async def bad_request(_: Request, error: LexirError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=400)


ENV_PREFIX = "LEXIR_SERVE_"


def app_from_environment() -> FastAPI:
    """The app for one uvicorn worker process, configured by `lexir serve` through the environment."""
    origins = [o for o in os.environ.get(f"{ENV_PREFIX}CORS", "").split(",") if o]
    return create_app(os.environ[f"{ENV_PREFIX}INDEX"], api_key=os.environ.get("LEXIR_API_KEY") or None,
                      keys_for_reads=os.environ.get(f"{ENV_PREFIX}KEYS_FOR_READS") == "1", cors_origins=origins)
