"""The service's request limits: plain data, importable without FastAPI (for `lexir serve --help`)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Request limits: past them a request is refused with a JSON error, before the work it asks for.

    413 for what a request sends: its body (`max_request_bytes`, checked while it is read), queries per batch,
    characters per query, documents per write, characters per document. 422 for what it asks back: `k` and
    `fusion_depth`, and the hits of one response (k x queries): `max_hits`, `max_text_hits` with `text`
    (titles and texts), `max_explain_hits` with `explain` (per-term parts).
    """

    max_k: int = 1000
    max_fusion_depth: int = 1000
    max_query_chars: int = 2000
    max_batch_queries: int = 100
    max_batch_documents: int = 1000
    max_text_chars: int = 200_000
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_hits: int = 10_000
    max_text_hits: int = 100
    max_explain_hits: int = 1_000

    def describe(self) -> str:
        """The limits in words (for `lexir serve --help`)."""
        return (f"request bodies of at most --max-request-bytes ({self.max_request_bytes:,} by default); k and "
                f"fusion_depth at most {self.max_k:,}; at most {self.max_batch_queries} queries of "
                f"{self.max_query_chars:,} characters per search, and {self.max_hits:,} hits (k x queries) per "
                f"response, {self.max_text_hits} with text, {self.max_explain_hits:,} with explain; at most "
                f"{self.max_batch_documents:,} documents of {self.max_text_chars:,} characters per write")
