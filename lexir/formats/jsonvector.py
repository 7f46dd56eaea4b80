"""Pyserini's JsonVectorCollection: JSONL(.gz) lines `{"id": ..., "contents": ..., "vector": {token: weight}}`.

`contents` is optional; weights are finite, non-negative integers or floats. Reading reuses the corpus reader's
line handling (corpus.LineReader): a bad line stops the read with its line number, or, with `skip_bad_lines`,
is skipped and counted by reason; a damaged .gz stops it always. The writer makes the same shape (ids and
contents as given, one line per document), gzipped when the name ends in .gz.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext, suppress
from pathlib import Path

import numpy as np

from lexir.corpus import BadLine, LineReader, VectorDocument, count_lines, json_object
from lexir.errors import LexirError
from lexir.files import atomic_write, gzipped_if_named
from lexir.formats.weights import WeightRange

FIELDS = "id, vector (and optionally contents)"


class JsonVectorCollection(LineReader):
    """A re-iterable stream of VectorDocuments from one JsonVectorCollection file; `weights` describes the weights
    of the last full read (for the identity quantization, see weights.py)."""

    def __init__(self, path: Path | str, *, skip_bad_lines: bool = False) -> None:
        super().__init__(skip_bad_lines=skip_bad_lines)
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise LexirError(f"{self.path} is not a file")
        self.source = str(path)
        self.weights = WeightRange()

    def __len__(self) -> int:
        return self.records if self.records is not None else count_lines(self.path)

    def __iter__(self) -> Iterator[VectorDocument]:
        self.weights.reset()
        for document, weights in self.parsed_lines(self.path, parse_vector_line):
            self.weights.see(weights)
            yield document


def parse_vector_line(raw: bytes) -> tuple[VectorDocument, np.ndarray]:
    """One JsonVectorCollection line as a VectorDocument and its weights (float64, in token order); BadLine (with
    its reason) when it is not one."""
    record = json_object(raw, FIELDS)
    doc_id = record.get("id")
    if doc_id is None or doc_id == "":
        raise BadLine("missing or empty id", "")
    if not isinstance(doc_id, str):
        raise BadLine("non-string id", f"id is {json.dumps(doc_id)[:40]}; ids are strings (quote it)")
    contents = record.get("contents", "")
    if not isinstance(contents, str):
        raise BadLine("non-string contents", f"contents is {json.dumps(contents)[:40]}; give a string or leave it out")
    vector = record.get("vector")
    weights = vector_weights(vector)
    return VectorDocument(doc_id, "", contents, vector=vector), weights  # type: ignore[arg-type]


def checked_vector(vector: object) -> dict[str, float]:
    """A {token: weight} map whose weights are finite non-negative numbers (ints or floats, not booleans); BadLine
    ("bad vector") otherwise."""
    vector_weights(vector)
    return vector  # type: ignore[return-value]


def vector_weights(vector: object) -> np.ndarray:
    """The weights of a {token: weight} map (checked as `checked_vector` says) as float64, in token order."""
    if not isinstance(vector, dict):
        shown = "missing" if vector is None else f"a {type(vector).__name__}"
        raise BadLine("bad vector", f"vector is {shown}; give an object of token: weight")
    if set(map(type, vector.values())) <= {int, float}:  # the common case, checked without a Python loop
        with suppress(OverflowError):
            weights = np.fromiter(vector.values(), dtype=np.float64, count=len(vector))
            if not weights.size or (weights.min() >= 0 and math.isfinite(weights.max())):  # NaN fails both
                return weights
    for token, weight in vector.items():  # find the first bad weight, for the message
        if type(weight) not in (int, float):
            raise BadLine("bad vector", f"the weight of {token!r} is {json.dumps(weight)[:40]}, not a number")
        if not (math.isfinite(weight) and weight >= 0):
            raise BadLine("bad vector", f"the weight of {token!r} is {weight}; weights are finite and non-negative")
    raise BadLine("bad vector", "a weight is too large for a float")


def write_jsonvector(path: Path | str, documents: Iterable[tuple[str, Mapping[str, float], str]]) -> int:
    """Write (id, {token: weight}, contents) triples as a JsonVectorCollection file (gzipped for *.gz), atomically;
    an empty `contents` is left out. Returns the number of lines."""
    path = Path(path)
    count = 0
    with atomic_write(path) as raw:
        handle = gzipped_if_named(path, raw)
        with handle if handle is not raw else nullcontext(raw):
            for doc_id, vector, contents in documents:
                record = {"id": doc_id, **({"contents": contents} if contents else {}), "vector": dict(vector)}
                handle.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
                count += 1
    return count
