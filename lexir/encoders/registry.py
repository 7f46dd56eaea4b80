"""Short encoder names -> real encoders, and encoders rebuilt from an index's spec.

`create_encoder("splade-tiny")` gives the embedded SPLADE-tiny; `"bm25"` a BM25
encoder; the well-known hub models have names with their settings; `promptreps:MODEL` is PromptReps over an
instruction-tuned causal LM; any other name is a hub id or a local folder of a masked-LM checkpoint (encoded
SPLADE-style; inference-free when the folder ships an `idf.json`, as OpenSearch `doc-*` models and `lexir train`
outputs do) or of a causal LM (SPLADE with echo pooling, encoders/echo.py).
Dense encoders (kind "dense", e.g. the embedded `minilm`) only make an index's dense
side: `create_dense_encoder` builds them, from a name, hub id or sentence-embedding folder.

The registry is a table of names; each encoder class owns its spec (`spec`, `from_spec`), its defaults, and
the options it takes (`SETTINGS` change vectors, `RUNTIME_OPTIONS` do not); this module only looks classes up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lexir.encoders.base import EncoderSpec, SparseEncoder, check_options
from lexir.encoders.bm25 import BM25Encoder
from lexir.encoders.bm25_fields import FieldedBM25Encoder
from lexir.encoders.dense import DenseEncoder
from lexir.encoders.echo import EchoSpladeEncoder, splade_class
from lexir.encoders.idf import IDF_FILE
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.encoders.promptreps import PREFIX as PROMPTREPS
from lexir.encoders.promptreps import PromptRepsDense, PromptRepsEncoder
from lexir.encoders.splade import SpladeEncoder
from lexir.encoders.vectors import VectorsEncoder
from lexir.errors import EncoderMismatchError, LexirError

SPARSE_ENCODERS: dict[str, Any] = {cls.kind: cls for cls in (SpladeEncoder, EchoSpladeEncoder, InferenceFreeEncoder,
                                                             BM25Encoder, FieldedBM25Encoder, VectorsEncoder,
                                                             PromptRepsEncoder)}
DENSE_ENCODERS: dict[str, Any] = {cls.kind: cls for cls in (DenseEncoder, PromptRepsDense)}


@dataclass(frozen=True)
class RegisteredEncoder:
    """A named configuration: the encoder class, the model it loads and the settings that go with it."""

    name: str
    description: str
    encoder_class: Any
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.encoder_class.kind

    def create(self, options: dict[str, Any]) -> Any:
        """The encoder, with `options` (SETTINGS or RUNTIME_OPTIONS of its class) over the registered settings."""
        cls = self.encoder_class
        check_options(options, cls.SETTINGS + cls.RUNTIME_OPTIONS, self.name)
        model = {"model": self.model} if self.model else {}  # model-less encoders (BM25) take none
        return cls(**model, name=self.name, **{**self.settings, **options})


DISCO_QUERY_LENGTH = 256  # lexir's choice: room for a flattened conversation (SPLADE's default 64 is one question)

REGISTRY: dict[str, RegisteredEncoder] = {
    entry.name: entry
    for entry in (
        RegisteredEncoder("splade-tiny", "SPLADE-tiny (BERT-tiny, MS MARCO), embedded", SpladeEncoder, "splade-tiny"),
        RegisteredEncoder("bm25", "BM25 (k1=0.9, b=0.4), Lucene-style English analyzer", BM25Encoder),
        RegisteredEncoder("bm25-title", "BM25 of contents + 0.3 x BM25 of the title field (weight chosen on "
                          "NFCorpus dev; --title-weight)", FieldedBM25Encoder, settings={"title_weight": 0.3}),
        RegisteredEncoder("splade-v3", "naver/splade-v3 (hub)", SpladeEncoder, "naver/splade-v3"),
        RegisteredEncoder("splade-pp-ed", "naver/splade-cocondenser-ensembledistil (hub)", SpladeEncoder,
                          "naver/splade-cocondenser-ensembledistil"),
        RegisteredEncoder("splade-pp-sd", "naver/splade-cocondenser-selfdistil (hub)", SpladeEncoder,
                          "naver/splade-cocondenser-selfdistil"),
        RegisteredEncoder("splade-tiny-if", "splade-tiny documents, text-IDF queries (untrained pairing)",
                          InferenceFreeEncoder, "splade-tiny", {"idf": "text"}),
        RegisteredEncoder("opensearch-doc-v2-distill", "OpenSearch inference-free v2 distill (hub, with idf.json)",
                          InferenceFreeEncoder,
                          "opensearch-project/opensearch-neural-sparse-encoding-doc-v2-distill"),
        RegisteredEncoder("opensearch-doc-v3-distill", "OpenSearch inference-free v3 distill (hub, with idf.json)",
                          InferenceFreeEncoder,
                          "opensearch-project/opensearch-neural-sparse-encoding-doc-v3-distill",
                          {"activation": "log1p_log1p_relu"}),
        RegisteredEncoder("opensearch-doc-v3-gte", "OpenSearch inference-free v3 GTE (hub, with idf.json)",
                          InferenceFreeEncoder, "opensearch-project/opensearch-neural-sparse-encoding-doc-v3-gte",
                          {"activation": "log1p_log1p_relu", "trust_remote_code": True}),
        RegisteredEncoder("disco-human", "DiSCo conversational queries (slupart/splade-disco-human, hub) over "
                          "SPLADE++ ED documents", SpladeEncoder, "naver/splade-cocondenser-ensembledistil",
                          {"query_model": "slupart/splade-disco-human", "max_query_length": DISCO_QUERY_LENGTH}),
        RegisteredEncoder("disco-human-mistral", "DiSCo multi-teacher (slupart/splade-disco-human-mistral, hub) over "
                          "SPLADE++ ED documents", SpladeEncoder, "naver/splade-cocondenser-ensembledistil",
                          {"query_model": "slupart/splade-disco-human-mistral",
                           "max_query_length": DISCO_QUERY_LENGTH}),
        RegisteredEncoder("promptreps-qwen2.5-0.5b", "PromptReps over Qwen/Qwen2.5-0.5B-Instruct (hub): sparse + dense "
                          "from one pass, untrained", PromptRepsEncoder, "Qwen/Qwen2.5-0.5B-Instruct"),
        RegisteredEncoder("promptreps-llama3-8b", "PromptReps over meta-llama/Meta-Llama-3-8B-Instruct (hub, gated), "
                          "the paper's largest model", PromptRepsEncoder, "meta-llama/Meta-Llama-3-8B-Instruct"),
        RegisteredEncoder("minilm", "all-MiniLM-L6-v2 sentence embeddings (384 dims, cosine), embedded; dense only",
                          DenseEncoder, "minilm"),
    )
}


def _given(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None}


def create_encoder(name: str, **options: Any) -> SparseEncoder:
    """Build the encoder called `name` (registry name, hub id or folder), with options overriding its settings."""
    return sparse_entry(name).create(_given(options))


def sparse_entry(name: str) -> RegisteredEncoder:
    """What `create_encoder(name)` makes: a registered entry, or one for a hub id or model folder."""
    entry = REGISTRY.get(name)
    if entry is None:
        if not name.strip():
            raise LexirError("the encoder name is empty; use one of: " + ", ".join(REGISTRY))
        if name.startswith(PROMPTREPS):
            return RegisteredEncoder(name, name, PromptRepsEncoder, name)
        inference_free = (Path(name).expanduser() / IDF_FILE).is_file()
        entry = RegisteredEncoder(name, name, InferenceFreeEncoder if inference_free else splade_class(name), name)
    if entry.encoder_class is DenseEncoder:
        raise LexirError(f"'{name}' is a dense encoder: it makes the dense side of an index "
                         f"(`lexir index build ... --dense {name}` or `lexir index add-dense DIR --encoder {name}`), "
                         "not the sparse one")
    return entry


def encoder_from_spec(spec: EncoderSpec, device: str | None = None, **runtime: Any) -> SparseEncoder:
    """Rebuild the encoder an index was built with.

    `runtime` holds settings that do not change document vectors (threads, batch size, and the query-side
    options of inference-free encoders); a registered name also brings its registry settings of that kind.
    `device` is where a model encoder's model runs; encoders that run no model (BM25, vectors) ignore it.
    """
    cls = SPARSE_ENCODERS.get(spec.kind)
    if cls is None:
        raise LexirError(f"the index was built with an encoder of kind '{spec.kind}', which this lexir does not know")
    entry = REGISTRY.get(spec.name)
    registered = entry.settings if entry is not None and entry.encoder_class is cls else {}
    defaults = {key: value for key, value in registered.items() if key in cls.RUNTIME_OPTIONS}
    return cls.from_spec(spec, **{**defaults, **runtime, **device_option(cls, device)})


def device_option(encoder_class: Any, device: str | None) -> dict[str, str]:
    """{"device": device} for an encoder class that runs a model, else nothing (a device means nothing to it)."""
    return {"device": device} if device is not None and "device" in encoder_class.RUNTIME_OPTIONS else {}


def create_dense_encoder(name: str, **options: Any) -> DenseEncoder:
    """The dense encoder called `name`: a registered dense name (minilm), a hub id or a model folder."""
    entry = REGISTRY.get(name)
    if entry is not None and entry.encoder_class is PromptRepsEncoder:  # a registered PromptReps model's dense side
        return RegisteredEncoder(name, name, PromptRepsDense, entry.model).create(_given(options))
    if entry is not None and entry.encoder_class is not DenseEncoder:
        dense_names = ", ".join(key for key, value in REGISTRY.items() if value.encoder_class is DenseEncoder)
        raise LexirError(f"'{name}' is a {entry.kind} encoder, not a dense one; use {dense_names}, or a hub id or "
                         "folder of a sentence-embedding checkpoint")
    if not name.strip():
        raise LexirError("the dense encoder name is empty; use minilm, a hub id or a model folder")
    if name.startswith(PROMPTREPS):
        return RegisteredEncoder(name, name, PromptRepsDense, name).create(_given(options))
    return (entry or RegisteredEncoder(name, name, DenseEncoder, name)).create(_given(options))


def dense_encoder_from_spec(spec: EncoderSpec, device: str | None = None, **runtime: Any) -> DenseEncoder:
    """Rebuild the dense encoder an index's dense side was built with (`runtime`: batch size, threads), its
    model on `device`."""
    cls = DENSE_ENCODERS.get(spec.kind)
    if cls is None:
        raise LexirError(f"the dense side was built with an encoder of kind '{spec.kind}', not a dense one")
    return cls.from_spec(spec, **runtime, **device_option(cls, device))


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
