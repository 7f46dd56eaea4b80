"""API keys: `Authorization: Bearer KEY` or `X-API-Key: KEY`, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key")


def require_key(request: Request, expected: str | None, *, writes: bool) -> None:
    """Raise 401 unless the request carries the expected key; writes need a configured key at all."""
    if expected is None:
        if writes:
            raise HTTPException(403, "writes are disabled: start the server with --api-key (or LEXIR_API_KEY)")
        return
    key = presented_key(request)
    if key is None or not hmac.compare_digest(key.encode("utf-8"), expected.encode("utf-8")):
        raise HTTPException(401, "missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)",
                            headers={"WWW-Authenticate": "Bearer"})
