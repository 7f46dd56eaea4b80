"""The on-disk index format: written here and read here, nowhere else.

An index is a directory:
    manifest.json        format version, encoder spec, counts, quantization, block size, creation time
    offsets.npy          int64[V+1]   posting list of term t is [offsets[t], offsets[t+1])
    doc_ids.npy          int32[P]     document numbers, ascending within each list
    impacts.npy          uint8[P]     quantized impacts (uint16 with 16-bit quantization)
    term_max.npy         uint8[V]     max impact of each list (0 for an empty list)
    block_offsets.npy    int64[V+1]   blocks of term t are [block_offsets[t], block_offsets[t+1])
    block_max.npy        uint8[B]     max impact of each block of BLOCK_SIZE postings
    block_last_doc.npy   int32[B]     last document number of each block
    doc_freq.npy         int64[V]     document frequency of each term (N is in the manifest)
    doc_nnz.npy          int32[N]     nonzeros of each document vector
    text_doc_freq.npy    int64[V]     optional: documents whose text's own tokens hold each term (the text IDF
                                      of inference-free queries); indexes of other encoders, and indexes built
                                      before lexir recorded it, have none
    docs.sqlite          external ids, titles, texts (see docstore.py)
    encoder/             state of encoders fitted on the corpus (e.g. bm25.json)
    dense/               optional FAISS side, with its own manifest (written and read in dense.py)
The manifest is written last: a directory without one is not an index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lexir.encoders.base import EncoderSpec
from lexir.errors import IndexFormatError
from lexir.files import write_json_atomic
from lexir.index.quantize import Quantizer

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
ENCODER_STATE_DIR = "encoder"
ARRAY_NAMES = ("offsets", "doc_ids", "impacts", "term_max", "block_offsets", "block_max", "block_last_doc",
               "doc_freq", "doc_nnz")
OPTIONAL_ARRAY_NAMES = ("text_doc_freq",)


@dataclass(frozen=True)
class Manifest:
    encoder: EncoderSpec
    num_docs: int
    num_terms: int
    num_postings: int
    quantization: Quantizer
    block_size: int
    created_at: str
    lexir_version: str
    source: str
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version, "lexir_version": self.lexir_version,
            "created_at": self.created_at, "source": self.source, "encoder": self.encoder.to_dict(),
            "num_docs": self.num_docs, "num_terms": self.num_terms, "num_postings": self.num_postings,
            "quantization": self.quantization.to_dict(), "block_size": self.block_size, "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            encoder=EncoderSpec.from_dict(data["encoder"]), num_docs=data["num_docs"], num_terms=data["num_terms"],
            num_postings=data["num_postings"], quantization=Quantizer.from_dict(data["quantization"]),
            block_size=data["block_size"], created_at=data["created_at"], lexir_version=data["lexir_version"],
            source=data["source"], format_version=data["format_version"], extra=data.get("extra", {}),
        )


def is_index(folder: Path) -> bool:
    return (folder / MANIFEST_FILE).is_file()


def write_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Every array of ARRAY_NAMES, and those of OPTIONAL_ARRAY_NAMES that `arrays` holds."""
    for name in (*ARRAY_NAMES, *(name for name in OPTIONAL_ARRAY_NAMES if name in arrays)):
        np.save(folder / f"{name}.npy", arrays[name])


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write the manifest last, atomically and flushed to disk: its presence marks a complete index."""
    write_json_atomic(folder / MANIFEST_FILE, manifest.to_dict(), indent=2)


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise IndexFormatError(f"index directory {folder} does not exist (build one with `lexir index build`)")
    if not path.is_file():
        raise IndexFormatError(f"{folder} is not a lexir index (no {MANIFEST_FILE}); it may be an unfinished build")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IndexFormatError(f"{path} is not valid JSON: {error}") from error
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{folder} has index format version {version}; this lexir reads version {FORMAT_VERSION}. Rebuild it."
        )
    try:
        return Manifest.from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        raise IndexFormatError(f"{path} is incomplete or damaged ({error!r}); rebuild the index") from error


def read_arrays(folder: Path, mmap: bool = True) -> dict[str, np.ndarray]:
    """The arrays of ARRAY_NAMES (all required) and of OPTIONAL_ARRAY_NAMES (those the index has)."""
    arrays = {}
    for name in (*ARRAY_NAMES, *OPTIONAL_ARRAY_NAMES):
        path = folder / f"{name}.npy"
        if path.is_file():
            arrays[name] = np.load(path, mmap_mode="r" if mmap else None)
        elif name in ARRAY_NAMES:
            raise IndexFormatError(f"index file {path} is missing; rebuild the index")
    return arrays
