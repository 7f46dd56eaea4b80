"""Pre-encoded topics: query vectors made elsewhere, as `lexir eval --queries FILE` takes them.

Two shapes, JSONL(.gz) or TSV(.gz), told apart by the first non-blank line:
- JSONL lines `{"id": ..., "vector": {token: weight}}` (weights as in JsonVectorCollection: finite, >= 0);
- Pyserini's TSV of `id<TAB>tok tok tok`, where a token repeated n times has weight n (how Pyserini writes
  integer-quantized query vectors).
A bad line stops the read with its line number; a query id given twice is refused.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from lexir.corpus import BadLine, LineReader, json_object
from lexir.errors import LexirError
from lexir.formats.jsonvector import checked_vector


def read_query_vectors(path: Path | str) -> dict[str, dict[str, float]]:
    """Query id -> {token: weight}, in file order."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LexirError(f"pre-encoded topics {path} are not a file (JSONL of {{\"id\", \"vector\"}} lines, or TSV "
                         "of id<TAB>tok tok tok)")
    parse = _parse_json_topic if _first_line(path).lstrip().startswith(b"{") else _parse_tsv_topic
    vectors: dict[str, dict[str, float]] = {}
    for query_id, vector in LineReader(skip_option=None).parsed_lines(path, parse):
        if query_id in vectors:
            raise LexirError(f"{path}: query id {query_id!r} is given twice")
        vectors[query_id] = vector
    if not vectors:
        raise LexirError(f"{path} holds no topics")
    return vectors


def _first_line(path: Path) -> bytes:
    for raw in LineReader().parsed_lines(path, lambda raw: raw):
        return raw
    return b""


def _parse_json_topic(raw: bytes) -> tuple[str, dict[str, float]]:
    record = json_object(raw, "id and vector")
    query_id = record.get("id")
    if not isinstance(query_id, str) or not query_id:
        raise BadLine("bad id", f"id is {json.dumps(query_id)[:40]}; give a non-empty string")
    return query_id, checked_vector(record.get("vector"))


def _parse_tsv_topic(raw: bytes) -> tuple[str, dict[str, float]]:
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise BadLine("invalid UTF-8", f"byte 0x{raw[error.start]:02x} at column {error.start + 1}") from None
    query_id, separator, tokens = line.partition("\t")
    if not separator or not query_id.strip():
        raise BadLine("not id<TAB>tokens", "expected a query id, a tab, and the query's tokens")
    return query_id.strip(), dict(Counter(tokens.split()))
