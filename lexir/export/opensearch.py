"""OpenSearch neural sparse export: a `_bulk` NDJSON file, the body that creates the index it goes into, and,
for an inference-free index, the `idf.json` of its query side.

Shapes, as OpenSearch's documentation gives them (no OpenSearch server runs in lexir's tests: they check the
files against these shapes):
- `rank_features` (exact neural sparse search): keys are token strings, values strictly positive floats
  (https://docs.opensearch.org/latest/vector-search/ai-search/neural-sparse-with-raw-vectors/).
- `sparse_vector` with the SEISMIC method (OpenSearch 3.3+, approximate): the index setting `index.sparse: true`,
  `"method": {"name": "seismic", "parameters": {...}}`, and keys that are token ids, non-negative integers
  written as strings (https://docs.opensearch.org/latest/mappings/supported-field-types/sparse-vector/ and
  https://docs.opensearch.org/latest/vector-search/ai-search/neural-sparse-ann/). Its weights are quantized at
  ingest with a ceiling (`quantization_ceiling_ingest`, default 3): the body sets it to the index's largest
  weight, so that no weight is clipped.
- `_bulk`: an action line `{"index": {"_id": ...}}` and a document line per document, each line ending with a
  newline (https://docs.opensearch.org/latest/api-reference/document-apis/bulk/).
Weights are the index's quantized impacts times its scale: the document vectors lexir searches, as floats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lexir.encoders.hf import load_fast_tokenizer
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.export.source import DocumentBatch, ExportSource

FIELD_TYPES = ("rank_features", "sparse_vector")
VECTOR_FIELD = "embedding"
BULK_FILE = "bulk.ndjson"
INDEX_BODY_FILE = "index.json"
IDF_FILE = "idf.json"


def index_body(field_type: str, max_weight: float) -> dict[str, Any]:
    """The body of `PUT /INDEX` for documents whose vectors are in `field_type` (see the module docstring)."""
    if field_type not in FIELD_TYPES:
        raise ValueError(f"field type {field_type!r} is not one of {FIELD_TYPES}")
    vector: dict[str, Any] = {"type": field_type}
    body: dict[str, Any] = {}
    if field_type == "sparse_vector":
        ceiling = math.ceil(max_weight * 100) / 100  # two decimals, never below the largest weight
        vector["method"] = {"name": "seismic", "parameters": {"quantization_ceiling_ingest": ceiling}}
        body["settings"] = {"index": {"sparse": True}}
    body["mappings"] = {"properties": {"title": {"type": "text"}, "text": {"type": "text"}, VECTOR_FIELD: vector}}
    return body


def weight_strings(source: ExportSource) -> list[str]:
    """JSON of the weight of every quantized level (level q weighs q * scale, as float32 writes it shortest;
    level 0 never occurs)."""
    quantizer = source.index.quantizer
    levels = quantizer.dequantize(np.arange(quantizer.levels_for(quantizer.bits) + 1))
    return [np.format_float_positional(weight, unique=True, trim="0") for weight in levels]


def key_strings(source: ExportSource, field_type: str) -> list[str]:
    """`"key":` of every term id: the token's JSON string (rank_features) or its id as a string (sparse_vector)."""
    if field_type == "sparse_vector":
        return [f'"{term}":' for term in range(source.num_terms)]
    return [json.dumps(token, ensure_ascii=False) + ":" for token in source.vocabulary]


def bulk_lines(batch: DocumentBatch, keys: list[str], weights: list[str]) -> Iterator[str]:
    """The action and document lines of every document of `batch` (newline-terminated)."""
    for i, document in enumerate(batch.documents):
        terms, impacts = batch.rows.row(i)
        vector = ",".join([keys[term] + weights[level] for term, level in zip(terms.tolist(), impacts.tolist())])
        action = json.dumps({"index": {"_id": document.id}}, ensure_ascii=False)
        fields = json.dumps({"title": document.title, "text": document.text}, ensure_ascii=False)
        yield f'{action}\n{fields[:-1]}, "{VECTOR_FIELD}": {{{vector}}}}}\n'


def idf_table(encoder: InferenceFreeEncoder) -> dict[str, float]:
    """{token: idf} of an inference-free encoder's query side as the index weighs it (OpenSearch's idf.json
    shape): tokens of idf 0 (never query terms) and the tokenizer's special tokens left out."""
    tokenizer = load_fast_tokenizer(encoder.model_folder)
    special = {token.content for token in tokenizer.get_added_tokens_decoder().values() if token.special}
    return {token: round(float(idf), 6) for token, idf in zip(encoder.vocabulary, encoder.idf.tolist())
            if idf > 0 and token not in special}


def write_opensearch(source: ExportSource, folder: Path, field_type: str, progress: bool) -> None:
    """Write bulk.ndjson, index.json and (inference-free indexes) idf.json into `folder`."""
    quantizer = source.index.quantizer
    max_weight = float(quantizer.dequantize(np.array([quantizer.levels_for(quantizer.bits)]))[0])
    (folder / INDEX_BODY_FILE).write_text(json.dumps(index_body(field_type, max_weight), indent=2) + "\n",
                                          encoding="utf-8")
    query_side = getattr(source.encoder, "query_encoder", None) or source.encoder  # (pre-encoded vectors' queries)
    if isinstance(query_side, InferenceFreeEncoder):
        (folder / IDF_FILE).write_text(json.dumps(idf_table(query_side), ensure_ascii=False), encoding="utf-8")
    keys, weights = key_strings(source, field_type), weight_strings(source)
    with open(folder / BULK_FILE, "w", encoding="utf-8") as handle:
        for batch in source.batches(progress, "export opensearch"):
            handle.writelines(bulk_lines(batch, keys, weights))
