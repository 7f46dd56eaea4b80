"""The FastAPI application: routes, limits, API keys, JSON errors.

Every error is a JSON body `{"error": ..., "detail": ...}` with a 4xx status (a 500 only for bugs, logged).
Before a route runs, `RequestGuard` (guard.py) checks the API key from the headers and caps the body as it is
read; request bodies are parsed by `strict_json`; the routes then check the request's sizes and the size of
the response it asks for (`Limits`, schemas.py). Error messages name the index by its folder name, never by
its path on the server (the full message is logged).

Create it with `create_app(index_dir, ...)`; `lexir serve` runs it under uvicorn, and with several workers each
process builds its own app from the LEXIR_SERVE_* environment (`app_from_environment`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

import lexir
from lexir.api.guard import RequestGuard, strict_json
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
    settings_of,
    with_defaults,
)
from lexir.api.service import SearchService
from lexir.corpus import Document
from lexir.errors import LexirError
from lexir.index.live import DocumentNotFoundError
from lexir.presets import Preset, load_preset
from lexir.search.conversation import Turn, conversation_query
from lexir.search.feedback import Feedback
from lexir.search.options import SearchOptions, fusion_of
from lexir.search.shard import Shard, ShardUnavailableError

logger = logging.getLogger("lexir.api")
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 503)}
MAX_ECHOED_INPUT = 200  # a validation error echoes the offending value only when it is this short
IdParameter = Annotated[str, Query(alias="id", min_length=1, description="the document id (any characters)")]


class ErrorJSONResponse(JSONResponse):
    """JSON with ASCII escapes: an error body can always be encoded, whatever a message quotes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("utf-8")


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """Routes whose JSON bodies are parsed by `strict_json` (NaN, 1e400, lone surrogates: 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def create_app(index: Path | str, *, api_key: str | None = None, keys_for_reads: bool = False,
               cors_origins: list[str] | None = None, limits: Limits | None = None,
               max_segments: int | None = None, allow_partial: bool = False,
               shards: Sequence[Shard] | None = None, preset: Preset | None = None,
               device: str | None = None) -> FastAPI:
    """A FastAPI app serving one index directory (or one sharded index: see SearchService for `allow_partial`
    and `shards`).

    `api_key` protects writes (without one they are disabled) and /stats, and with `keys_for_reads` every read.
    With a `preset`, its search options are the defaults of every search request (a request's own settings
    override them). `device` is where models encode queries and added documents (cpu by default).
    """
    service = SearchService(index, max_segments=max_segments, allow_partial=allow_partial, shards=shards,
                            device=device)
    limits = limits or Limits()
    defaults = settings_of(preset.options) if preset is not None else {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # load models and compile kernels before the first request, not during it; in a thread, as the routes run:
        # shards served elsewhere (Ray Serve handles) may not be called from the event loop
        await asyncio.to_thread(service.warm_up)
        if preset is not None:
            await asyncio.to_thread(lambda: service.searcher(preset.options).search_batch(["warm up"], k=1))
        yield

    app = FastAPI(title="lexir", version=lexir.__version__, description=f"Search over {Path(index).name}",
                  responses=ERRORS, lifespan=lifespan)
    app.router.route_class = StrictJSONRoute
    app.add_middleware(RequestGuard, api_key=api_key, keys_for_reads=keys_for_reads,
                       max_request_bytes=limits.max_request_bytes)
    if cors_origins:  # outside the guard: a refusal still carries the CORS headers a browser needs to read it
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["*"], allow_headers=["*"])
    _add_error_handlers(app, PathScrubber(Path(index)))

    def run_search(queries: list[str], settings: SearchSettings) -> list[SearchResponse]:
        settings = with_defaults(settings, defaults)
        for name, value, limit in (("k", settings.k, limits.max_k),
                                   ("fusion_depth", settings.fusion_depth, limits.max_fusion_depth)):
            if value > limit:
                raise HTTPException(422, f"{name} is {value}; at most {limit} hits per query")
        if len(queries) > limits.max_batch_queries:
            raise HTTPException(413, f"{len(queries)} queries; at most {limits.max_batch_queries} per request")
        hits = settings.k * len(queries)
        for asked, limit, what in ((True, limits.max_hits, ""), (settings.text, limits.max_text_hits, " with text"),
                                   (settings.explain, limits.max_explain_hits, " with explain")):
            if asked and hits > limit:
                raise HTTPException(422, f"k x queries is {hits:,} hits; at most {limit:,} per response{what}")
        for query in queries:
            if not query.strip():
                raise HTTPException(422, "the query is empty; give at least one word")
            if len(query) > limits.max_query_chars:
                raise HTTPException(413, f"a query of {len(query)} characters; at most {limits.max_query_chars}")
        options = SearchOptions(
            mode=settings.mode, algorithm=settings.algorithm, heap_factor=settings.heap_factor,
            query_cut=settings.query_cut, fusion_depth=settings.fusion_depth,
            fusion=fusion_of(settings.fuse, tuple(settings.weights) if settings.weights is not None else None,
                             settings.normalization, settings.rrf_k),
            prf=(Feedback(settings.prf, settings.prf_docs, settings.prf_terms, settings.prf_weight)
                 if settings.prf is not None else None),
            dense_prf=(Feedback("rocchio", settings.dense_prf_docs, Feedback.terms, settings.dense_prf_weight)
                       if settings.dense_prf else None))
        results = service.search(queries, settings.k, options, settings.explain, settings.text)
        return [SearchResponse(**result.to_dict()) for result in results]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("lexir.api").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        down = service.down_shards()
        if down:
            raise ShardUnavailableError(down, "the shard does not answer")
        return {"status": "ok"}

    @app.get("/search", response_model=SearchResponse)
    def search_get(query: Annotated[SearchQuery, Query()]) -> SearchResponse:
        return run_search([query.q], query)[0]

    @app.post("/search", response_model=SearchResponse | list[SearchResponse])
    def search_post(body: SearchRequest) -> SearchResponse | list[SearchResponse]:
        if sum(given is not None for given in (body.q, body.queries, body.conversation)) != 1:
            raise HTTPException(422, "give either q (one query), queries (a batch) or conversation (turns): "
                                     "exactly one")
        if body.conversation is not None:
            turns = [Turn(turn.role, turn.text) for turn in body.conversation]
            query = conversation_query(service.searcher(SearchOptions(mode=body.mode)), turns, body.max_history)
            return run_search([query], body)[0]
        if body.q is not None:
            return run_search([body.q], body)[0]
        return run_search(body.queries or [], body)

    # Ids may hold any character: /documents/{id} takes the rest of the path ("a/b" as /documents/a%2Fb or
    # /documents/a/b), and ?id= takes any id at all (also "." and "..", which clients resolve away in paths)
    @app.get("/documents", response_model=DocumentBody, summary="Get a document by ?id=")
    def get_document_by_parameter(doc_id: IdParameter) -> DocumentBody:
        return get_document(doc_id)

    @app.get("/documents/{doc_id:path}", response_model=DocumentBody)
    def get_document(doc_id: str) -> DocumentBody:
        document = service.document(doc_id)
        return DocumentBody(id=document.id, title=document.title, text=document.text)

    @app.delete("/documents", response_model=WriteResponse, summary="Delete a document by ?id=")
    def delete_document_by_parameter(doc_id: IdParameter) -> WriteResponse:
        return delete_document(doc_id)

    @app.delete("/documents/{doc_id:path}", response_model=WriteResponse)
    def delete_document(doc_id: str) -> WriteResponse:
        return WriteResponse(generation=service.delete(doc_id), deleted=1)

    @app.post("/documents", response_model=WriteResponse)
    def add_documents(body: AddDocumentsRequest) -> WriteResponse:
        if len(body.documents) > limits.max_batch_documents:
            raise HTTPException(413, f"{len(body.documents)} documents; at most {limits.max_batch_documents} "
                                     "per request")
        for document in body.documents:
            if len(document.title) + len(document.text) > limits.max_text_chars:
                raise HTTPException(413, f"document '{document.id}' has more than {limits.max_text_chars} "
                                         "characters")
        documents = [Document(d.id, d.title, d.text) for d in body.documents]
        return WriteResponse(generation=service.add(documents), added=len(documents))

    @app.get("/stats", response_model=StatsResponse)
    def stats() -> StatsResponse:
        return StatsResponse(**service.stats())

    return app


class PathScrubber:
    """Messages for clients without server paths: the index's path becomes its folder name, any other absolute
    path its last part (`.../name`)."""

    ABSOLUTE = re.compile(r"(?<![\w.~:/-])/(?:[^\s/'\"`]+/)+([^\s/'\"`]*)")

    def __init__(self, index: Path) -> None:
        roots = {str(index), str(index.absolute()), str(index.resolve())}
        self.roots = sorted((root for root in roots if root not in (".", "/")), key=len, reverse=True)
        self.name = index.resolve().name

    def __call__(self, message: str) -> str:
        for root in self.roots:
            message = message.replace(root, self.name)
        return self.ABSOLUTE.sub(lambda match: f".../{match.group(1)}", message)


def _add_error_handlers(app: FastAPI, scrub: PathScrubber) -> None:
    """JSON error bodies for every failure a client can cause."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return ErrorJSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        detail = [_shortened(item) for item in json.loads(json.dumps(error.errors(), default=str))]
        first = detail[0] if detail else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        reason = (first.get("ctx") or {}).get("error")
        message = first.get("msg", "bad value") + (f" ({reason})" if reason else "")
        return ErrorJSONResponse({"error": f"invalid request: {where}: {message}", "detail": detail},
                                 status_code=422)

    @app.exception_handler(DocumentNotFoundError)
    async def not_found(_: Request, error: DocumentNotFoundError) -> JSONResponse:
        return ErrorJSONResponse({"error": str(error)}, status_code=404)

    @app.exception_handler(ShardUnavailableError)
    async def unavailable(request: Request, error: ShardUnavailableError) -> JSONResponse:
        logger.warning("%s %s: %s", request.method, request.url.path, error)
        return ErrorJSONResponse({"error": scrub(str(error)), "shards": list(error.shards)}, status_code=503)

    @app.exception_handler(LexirError)
    async def bad_request(request: Request, error: LexirError) -> JSONResponse:
        public = scrub(str(error))
        if public != str(error):
            logger.warning("%s %s: %s", request.method, request.url.path, error)
        return ErrorJSONResponse({"error": public}, status_code=400)


def _shortened(item: dict[str, Any]) -> dict[str, Any]:
    """A validation error without a long echoed input (a whole body, say)."""
    shown = json.dumps(item.get("input"))
    if len(shown) > MAX_ECHOED_INPUT:
        item = {**item, "input": f"({len(shown):,} characters, not shown)"}
    return item


ENV_PREFIX = "LEXIR_SERVE_"


def app_from_environment(shards: Sequence[Shard] | None = None) -> FastAPI:
    """The app for one uvicorn worker process, configured by `lexir serve` through the environment (`shards`: a
    sharded index's shards served elsewhere, e.g. Ray Serve deployments)."""
    origins = [o for o in os.environ.get(f"{ENV_PREFIX}CORS", "").split(",") if o]
    max_bytes = os.environ.get(f"{ENV_PREFIX}MAX_REQUEST_BYTES")
    limits = Limits(max_request_bytes=int(max_bytes)) if max_bytes else Limits()
    preset = os.environ.get(f"{ENV_PREFIX}PRESET")
    return create_app(os.environ[f"{ENV_PREFIX}INDEX"], api_key=os.environ.get("LEXIR_API_KEY") or None,
                      keys_for_reads=os.environ.get(f"{ENV_PREFIX}KEYS_FOR_READS") == "1", cors_origins=origins,
                      limits=limits, allow_partial=os.environ.get(f"{ENV_PREFIX}ALLOW_PARTIAL") == "1", shards=shards,
                      preset=load_preset(preset) if preset else None,
                      device=os.environ.get(f"{ENV_PREFIX}DEVICE") or None)
