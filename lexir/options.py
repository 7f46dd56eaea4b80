"""Parsing `KEY=VALUE` options given on the command line into typed Python values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lexir.errors import LexirError


def parse_key_values(items: Sequence[str] | None) -> dict[str, Any]:
    """`["idf=corpus", "max_query_terms=8", "drop_stopwords=true"]` -> {"idf": "corpus", ...}.

    Values that read as JSON (numbers, true/false, null) become those; anything else stays a string.
    """
    options: dict[str, Any] = {}
    for item in items or []:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise LexirError(f"option {item!r} is not KEY=VALUE (e.g. --query-option idf=corpus)")
        try:
            options[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip().replace("-", "_")] = value
    return options
