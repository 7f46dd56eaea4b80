"""What every request passes before the app sees it: the API key, the body's size, strict JSON, and a JSON 500.

`RequestGuard` is a plain ASGI middleware, so it acts before any route reads the body:
1. the key: a request that needs one and lacks it gets its 401 (403 for writes on a server without a key)
   before a byte of its body is read;
2. the body: a declared Content-Length over the limit is refused at once (413), and a body sent without one
   is read only up to the limit; what the app then reads is the buffered body;
3. a bug (any other exception) becomes a JSON 500 that completes the response, so the server keeps the
   connection open: uvicorn closes the connection after an exception that reaches it, and a keep-alive
   client that has already sent its next request on it sees a reset.

`strict_json` is the JSON parser of request bodies: NaN, Infinity and numbers that overflow to them, lone
surrogates (escapes like "\\ud800", which no UTF-8 text can hold), bodies that are not UTF-8 and absurd nesting
are refused as invalid JSON (422), never carried into the index or a 500.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lexir.api.security import check_key

logger = logging.getLogger("lexir.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/", "/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def access_of(method: str, path: str) -> str:
    """What a request needs: "open", "read" (the key when reads are protected), "operator" (the key whenever the
    server has one: /stats) or "write" (the key, always)."""
    if method == "OPTIONS" or path in OPEN_PATHS:
        return "open"
    if path == "/stats":
        return "operator"
    if method in ("POST", "DELETE", "PUT", "PATCH") and (path == "/documents" or path.startswith("/documents/")):
        return "write"
    return "read"


class RequestGuard:
    """ASGI middleware: key, then body size, then the app, with a JSON 500 for bugs (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, keys_for_reads: bool, max_request_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.keys_for_reads = keys_for_reads
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        refusal = self._refusal(scope["method"], scope["path"], headers)
        if refusal is not None:
            status, message, extra = refusal
            await send_json(send, status, {"error": message}, extra)
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_request_bytes):
            await self._too_large(send, declared)
            return
        body = await self._read_body(receive)
        if body is None:
            await self._too_large(send, None)
            return
        await self._run(scope, _replay(body, receive), send)

    def _refusal(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str, dict[str, str]] | None:
        access = access_of(method, path)
        if access == "open" or (access == "read" and not self.keys_for_reads):
            return None
        if access == "operator" and self.api_key is None:
            return None
        return check_key(headers, self.api_key, writes=access == "write")

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit (the rest is never read)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # the client went away: the app sees an empty or partial body, as it would
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send, declared: str | None) -> None:
        what = f"a body of {declared} bytes" if declared and declared.isdigit() else "the body"
        await send_json(send, 413, {"error": f"{what} is over this server's limit of {self.max_request_bytes:,} "
                                             "bytes per request (--max-request-bytes)"},
                        {"connection": "close"})

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("internal error in %s %s", scope["method"], scope["path"])
            if started:  # nothing sensible can follow a half-sent response: the server closes the connection
                raise
            await send_json(send, 500, {"error": "internal server error (logged on the server)"})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the app the buffered body, then waits for the client to go away."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    content = json.dumps(body).encode("utf-8")  # ASCII escapes: any string can be sent
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(key.encode("latin-1"), value.encode("latin-1")) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


# strict JSON -------------------------------------------------------------------------------------------------------

def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def strict_json(body: bytes | str) -> Any:
    """Parse a request body; raises json.JSONDecodeError (FastAPI answers 422) for anything a client should not
    send: invalid JSON or UTF-8, NaN / Infinity / overflowing numbers, lone surrogates, or nesting deeper than
    the interpreter's recursion limit."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError(f"the body is not UTF-8 ({error.reason})", "", error.start) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:  # NaN, 1e400, an int of 4,300+ digits, [[[[...]]]] nesting
        raise json.JSONDecodeError(str(error), text, 0) from None
    _check_strings(value, text)
    return value


def _check_strings(value: Any, text: str) -> None:
    """Refuse strings (keys included) that are not valid Unicode: lone surrogates from escapes."""
    if "\\u" not in text:  # only an escape can make a surrogate: the body itself was decoded as UTF-8
        return
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise json.JSONDecodeError("a string holds a lone surrogate (an escape like \\ud800 without its "
                                           "other half): not valid Unicode", text, 0) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
