"""API keys: `Authorization: Bearer KEY` or `X-API-Key: KEY`, compared in constant time.

Checked by `RequestGuard` (guard.py) from the request's headers alone, before its body is read.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

WRITES_DISABLED = "writes are disabled: start the server with an API key (LEXIR_API_KEY or --api-key-file)"
WRONG_KEY = "missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)"


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries; `headers` with lower-case names."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key")


def check_key(headers: Mapping[str, str], expected: str | None, *, writes: bool
              ) -> tuple[int, str, dict[str, str]] | None:
    """None when the request may go on, else (status, message, headers) of its refusal: 401 without the expected
    key, 403 for a write to a server that has no key (writes disabled)."""
    if expected is None:
        return (403, WRITES_DISABLED, {}) if writes else None
    key = presented_key(headers)
    if key is None or not hmac.compare_digest(key.encode("utf-8"), expected.encode("utf-8")):
        return 401, WRONG_KEY, {"www-authenticate": "Bearer"}
    return None
