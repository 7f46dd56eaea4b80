"""Command-line options shared by several commands, and parsing them into typed Python values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from lexir.errors import LexirError
from lexir.search.fusion import RRF_K, Fusion

# Dense and hybrid search options, the same on `lexir search` and `lexir eval`.
ModeOption = Annotated[str, typer.Option(
    "--mode", help="What searches: sparse (the inverted index), dense (the index's FAISS side) or hybrid "
                   "(both, fused).")]
FuseOption = Annotated[str | None, typer.Option(
    "--fuse", help="How several retrievers' lists are fused: rrf (reciprocal rank fusion, the default) or convex "
                   "(a weighted sum of normalized scores).")]
WeightsOption = Annotated[str | None, typer.Option(
    "--weights", help="One fusion weight per retriever, comma-separated, in order: sparse,dense for each index "
                      "(e.g. 0.3,0.7). Default: equal.")]
NormalizationOption = Annotated[str | None, typer.Option(
    "--normalization", help="Score normalization of --fuse convex: minmax (default) or zscore.")]
RrfKOption = Annotated[int, typer.Option("--rrf-k", help="The k of reciprocal rank fusion, 1/(k + rank).")]
FusionDepthOption = Annotated[int, typer.Option(
    "--fusion-depth", help="Hits taken from each retriever before fusing (at least the number of hits asked).")]


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


def parse_weights(text: str) -> tuple[float, ...]:
    """`"0.3,0.7"` -> (0.3, 0.7)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise LexirError(f"--weights {text!r} is not a comma-separated list of numbers (e.g. 0.3,0.7)") from None


def fusion_from_options(fuse: str | None, weights: str | None, normalization: str | None, rrf_k: int
                        ) -> Fusion | None:
    """The Fusion the options ask for; None when they ask for none (several retrievers then use RRF)."""
    if normalization is not None and fuse != "convex":
        raise LexirError("--normalization applies only to --fuse convex")
    if fuse is None and weights is None and rrf_k == RRF_K:
        return None
    return Fusion(method=fuse or "rrf", weights=parse_weights(weights) if weights is not None else None,
                  normalization=normalization or "minmax", rrf_k=rrf_k)
