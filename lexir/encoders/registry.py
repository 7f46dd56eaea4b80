"""Short encoder names -> real encoders, and encoders rebuilt from an index's spec.

`create_encoder("splade-tiny")` gives the embedded SPLADE-tiny; `"bm25"` a BM25
encoder; the well-known hub models have names with their settings; any other name
is a hub id or a local folder of a masked-LM checkpoint (encoded SPLADE-style; inference-free when the folder
ships an `idf.json`, as OpenSearch `doc-*` models and `lexir train` outputs do).
Dense encoders (kind "dense", e.g. the embedded `minilm`) only make an index's dense
side: `create_dense_encoder` builds them, from a name, hub id or sentence-embedding folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lexir.encoders.base import EncoderSpec, SparseEncoder
from lexir.encoders.bm25 import BM25Encoder
from lexir.encoders.dense import DenseEncoder
from lexir.encoders.embedded import EMBEDDED_MODELS
from lexir.encoders.idf import IDF_FILE
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.encoders.splade import SpladeEncoder
from lexir.errors import EncoderMismatchError, LexirError


@dataclass(frozen=True)
class RegisteredEncoder:
    """A named configuration: the model it loads and the settings that go with it."""

    name: str
    description: str
    kind: str
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


REGISTRY: dict[str, RegisteredEncoder] = {
    entry.name: entry
    for entry in (
        RegisteredEncoder("splade-tiny", "SPLADE-tiny (BERT-tiny, MS MARCO), embedded", "splade", "splade-tiny"),
        RegisteredEncoder("bm25", "BM25 (k1=0.9, b=0.4), Lucene-style English analyzer", "bm25"),
        RegisteredEncoder("splade-v3", "naver/splade-v3 (hub)", "splade", "naver/splade-v3"),
        RegisteredEncoder("splade-pp-ed", "naver/splade-cocondenser-ensembledistil (hub)", "splade",
                          "naver/splade-cocondenser-ensembledistil"),
        RegisteredEncoder("splade-pp-sd", "naver/splade-cocondenser-selfdistil (hub)", "splade",
                          "naver/splade-cocondenser-selfdistil"),
        RegisteredEncoder("splade-tiny-if", "splade-tiny documents, corpus-IDF queries (untrained pairing)",
                          "inference-free", "splade-tiny", {"idf": "corpus"}),
        RegisteredEncoder("opensearch-doc-v2-distill", "OpenSearch inference-free v2 distill (hub, with idf.json)",
                          "inference-free", "opensearch-project/opensearch-neural-sparse-encoding-doc-v2-distill"),
        RegisteredEncoder("opensearch-doc-v3-distill", "OpenSearch inference-free v3 distill (hub, with idf.json)",
                          "inference-free", "opensearch-project/opensearch-neural-sparse-encoding-doc-v3-distill",
                          {"activation": "log1p_log1p_relu"}),
        RegisteredEncoder("opensearch-doc-v3-gte", "OpenSearch inference-free v3 GTE (hub, with idf.json)",
                          "inference-free", "opensearch-project/opensearch-neural-sparse-encoding-doc-v3-gte",
                          {"activation": "log1p_log1p_relu", "trust_remote_code": True}),
        RegisteredEncoder("minilm", "all-MiniLM-L6-v2 sentence embeddings (384 dims, cosine), embedded; dense only",
                          "dense", "minilm"),
    )
}


RUNTIME_OPTIONS = ("batch_size", "threads", "trust_remote_code")
DENSE_OPTIONS = ("max_length", *RUNTIME_OPTIONS)
QUERY_OPTIONS = ("idf", "query_tf", "min_idf", "drop_stopwords", "max_query_terms")


def _model_folder(model: str) -> str | None:
    """The local folder of an embedded model name; None for hub ids and paths (resolved lazily)."""
    embedded = EMBEDDED_MODELS.get(model)
    return embedded.path() if embedded else None


def create_encoder(name: str, **options: Any) -> SparseEncoder:
    """Build the encoder called `name` (registry name, hub id or folder), with options overriding its settings."""
    options = {key: value for key, value in options.items() if value is not None}
    entry = REGISTRY.get(name)
    if entry is None:
        if not name.strip():
            raise LexirError("the encoder name is empty; use one of: " + ", ".join(REGISTRY))
        if (Path(name).expanduser() / IDF_FILE).is_file():
            return InferenceFreeEncoder(name, **options)
        return SpladeEncoder(name, **options)
    settings = {**entry.settings, **options}
    if entry.kind == "dense":
        raise LexirError(f"'{name}' is a dense encoder: it makes the dense side of an index "
                         f"(`lexir index build ... --dense {name}` or `lexir index add-dense DIR --encoder {name}`), "
                         "not the sparse one")
    if entry.kind == "bm25":
        return BM25Encoder(name=entry.name, **_only(settings, ("k1", "b"), entry.name))
    model_class = InferenceFreeEncoder if entry.kind == "inference-free" else SpladeEncoder
    return model_class(entry.model or entry.name, name=entry.name, model_folder=_model_folder(entry.model or ""),
                       **settings)


def _only(settings: dict[str, Any], allowed: tuple[str, ...], name: str) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise LexirError(f"encoder '{name}' does not take {', '.join(unknown)}; it takes: {', '.join(allowed)}")
    return settings


def encoder_from_spec(spec: EncoderSpec, **runtime: Any) -> SparseEncoder:
    """Rebuild the encoder an index was built with.

    `runtime` holds settings that do not change document vectors (threads, batch size, and the query-side
    options of inference-free encoders); a registered name also brings its registry settings.
    """
    if spec.kind == "bm25":
        if runtime:
            raise LexirError(f"BM25 indexes take no query options (got {', '.join(runtime)})")
        return BM25Encoder(name=spec.name, k1=spec.params["k1"], b=spec.params["b"])
    if spec.kind not in ("splade", "inference-free"):
        raise LexirError(f"the index was built with an encoder of kind '{spec.kind}', which this lexir does not know")
    entry = REGISTRY.get(spec.name)
    settings = {**(entry.settings if entry and entry.kind == spec.kind else {}), **runtime}
    settings.update(
        max_doc_length=spec.max_doc_length or 256, max_query_length=spec.max_query_length or 64,
        activation=spec.params.get("activation", "log1p_relu"), doc_top_k=spec.params.get("doc_top_k"),
        precision=spec.params.get("precision", "fp32"),
    )
    if spec.kind == "splade":
        settings["query_top_k"] = spec.params.get("query_top_k")
    model_class = InferenceFreeEncoder if spec.kind == "inference-free" else SpladeEncoder
    allowed = RUNTIME_OPTIONS + (QUERY_OPTIONS if spec.kind == "inference-free" else ())
    _only(runtime, allowed, spec.name)
    return model_class(spec.model or spec.name, name=spec.name, model_folder=_model_folder(spec.model or ""),
                       **settings)


def create_dense_encoder(name: str, **options: Any) -> DenseEncoder:
    """The dense encoder called `name`: a registered dense name (minilm), a hub id or a model folder."""
    options = {key: value for key, value in options.items() if value is not None}
    entry = REGISTRY.get(name)
    if entry is not None and entry.kind != "dense":
        dense_names = ", ".join(key for key, value in REGISTRY.items() if value.kind == "dense")
        raise LexirError(f"'{name}' is a {entry.kind} encoder, not a dense one; use {dense_names}, or a hub id or "
                         "folder of a sentence-embedding checkpoint")
    if not name.strip():
        raise LexirError("the dense encoder name is empty; use minilm, a hub id or a model folder")
    model = entry.model if entry and entry.model else name
    return DenseEncoder(model, name=name, model_folder=_model_folder(model), **_only(options, DENSE_OPTIONS, name))


def dense_encoder_from_spec(spec: EncoderSpec, **runtime: Any) -> DenseEncoder:
    """Rebuild the dense encoder an index's dense side was built with (`runtime`: batch size, threads)."""
    if spec.kind != "dense":
        raise LexirError(f"the dense side was built with an encoder of kind '{spec.kind}', not a dense one")
    _only(runtime, RUNTIME_OPTIONS, spec.name)
    model = spec.model or spec.name
    return DenseEncoder(model, name=spec.name, model_folder=_model_folder(model), max_length=spec.max_doc_length,
                        **runtime)


def check_same_encoder(index_spec: EncoderSpec, encoder_spec: EncoderSpec) -> None:
    """Refuse a query encoder whose spec differs from the index's."""
    differences = index_spec.differences(encoder_spec)
    if differences:
        details = "; ".join(
            f"{key}: index has {index_spec.to_dict()[key]!r}, encoder has {encoder_spec.to_dict()[key]!r}"
            for key in differences
        )
        raise EncoderMismatchError(
            f"the index was built with encoder '{index_spec.name}' and cannot be searched with "
            f"'{encoder_spec.name}' ({details}). Search it with its own encoder (the default), or rebuild it."
        )
