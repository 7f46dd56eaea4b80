"""The on-disk index format: written here and read here, nowhere else.

An index is a directory (format version 2):
    manifest.json        format version, encoder spec, counts, quantization, block size, creation time
    offsets.npy          int64[V+1]   posting list of term t is postings [offsets[t], offsets[t+1]) (P in all)
    doc_blocks.npy       uint32[W+1]  the document numbers of every list, bit-packed per block of BLOCK_SIZE
                                      postings (codec.py: a 5-bit gap width, then the gaps), then one spare
                                      zero word
    block_words.npy      int64[B+1]   block b is doc_blocks.npy words [block_words[b], block_words[b+1]) (x 4 for
                                      its byte offsets)
    impacts.npy          uint8[P]     quantized impacts, in posting order (uint16 with 16-bit quantization, as
                                      every impact array)
    term_max.npy         uint8[V]     max impact of each list (0 for an empty list)
    block_offsets.npy    int64[V+1]   blocks of term t are [block_offsets[t], block_offsets[t+1])
    block_max.npy        uint8[B]     max impact of each block
    block_last_doc.npy   int32[B]     last document number of each block
    doc_freq.npy         int64[V]     document frequency of each term (N is in the manifest)
    doc_nnz.npy          int32[N]     nonzeros of each document vector
    text_doc_freq.npy    int64[V]     optional: documents whose text's own tokens hold each term (the text IDF
                                      of inference-free queries); indexes of other encoders, and indexes built
                                      before lexir recorded it, have none
    added_terms.json     optional: JSON list of the words live writes appended to the build's vocabulary (an
                                      open vocabulary: BM25), in id order after the build's terms; a live
                                      segment holds every word appended up to its own write
    docs.sqlite          external ids, titles, texts (see docstore.py)
    encoder/             state of encoders fitted on the corpus (e.g. bm25.json)
    dense/               optional FAISS side, with its own manifest (written and read in dense.py)
Version 1 stored the document numbers uncompressed instead of doc_blocks.npy and block_words.npy: doc_ids.npy
(int32[P]); every other file is the same. A version-1 index of at most V1_OPEN_POSTINGS postings is
converted in memory when it opens; a larger one is refused with an error naming `lexir index upgrade`
(upgrade.py), which converts it in place.
The manifest is written last: a directory without one is not an index. It records every other file it
covers (`files`: path -> bytes and CRC-32, computed when the folder was written; absent in indexes written
before lexir recorded them). Opening checks what costs no more than the manifest, the array headers and the
offset arrays (see `read_arrays`): file sizes, dtypes, shapes, and offsets that are monotone and end where
the arrays do. The posting contents (every block decodes to document numbers below num_docs, impacts match
the block and term maxima) and the checksums are verified in full by `lexir index check` (check.py); the
search kernels stay in bounds whatever the contents hold (codec.py checks each block it decodes).
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lexir.encoders.base import EncoderSpec
from lexir.errors import IndexFormatError
from lexir.files import write_json_atomic
from lexir.index.quantize import SUPPORTED_BITS, Quantizer

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
V1_OPEN_POSTINGS = 2**24  # a version-1 index up to this size is converted in memory when it opens (~1 s)
MANIFEST_FILE = "manifest.json"
ENCODER_STATE_DIR = "encoder"
ADDED_TERMS_FILE = "added_terms.json"
ARRAY_NAMES = ("offsets", "doc_blocks", "block_words", "impacts", "term_max", "block_offsets", "block_max",
               "block_last_doc", "doc_freq", "doc_nnz")
V1_ARRAY_NAMES = ("offsets", "doc_ids", "impacts", "term_max", "block_offsets", "block_max", "block_last_doc",
                  "doc_freq", "doc_nnz")
OPTIONAL_ARRAY_NAMES = ("text_doc_freq",)
CHECKSUM = "crc32"  # zlib's CRC-32: in the standard library, ~2 GB/s (an index of 1e9 postings: ~5 s)
MAX_DOCS = 2**31 - 1  # document numbers are int32
REBUILD = "rebuild the index (`lexir index check` lists every damaged file)"
_CRC_PIECE = 16 * 2**20


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
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> {"bytes", "crc32"}; {} if unrecorded

    def to_dict(self) -> dict[str, Any]:
        data = {
            "format_version": self.format_version, "lexir_version": self.lexir_version,
            "created_at": self.created_at, "source": self.source, "encoder": self.encoder.to_dict(),
            "num_docs": self.num_docs, "num_terms": self.num_terms, "num_postings": self.num_postings,
            "quantization": self.quantization.to_dict(), "block_size": self.block_size, "extra": self.extra,
        }
        if self.files:
            data["files"] = self.files
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            encoder=EncoderSpec.from_dict(data["encoder"]), num_docs=data["num_docs"], num_terms=data["num_terms"],
            num_postings=data["num_postings"], quantization=Quantizer.from_dict(data["quantization"]),
            block_size=data["block_size"], created_at=data["created_at"], lexir_version=data["lexir_version"],
            source=data["source"], format_version=data["format_version"], extra=data.get("extra", {}),
            files=data.get("files", {}),
        )


def is_index(folder: Path) -> bool:
    return (folder / MANIFEST_FILE).is_file()


def write_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Every array of ARRAY_NAMES, and those of OPTIONAL_ARRAY_NAMES that `arrays` holds."""
    for name in (*ARRAY_NAMES, *(name for name in OPTIONAL_ARRAY_NAMES if name in arrays)):
        write_array(folder, name, arrays[name])


def write_array(folder: Path, name: str, values: np.ndarray) -> None:
    """One array held in memory, as NAME.npy."""
    np.save(folder / f"{name}.npy", values)


class ArrayStream:
    """One NAME.npy of a given dtype, written piece by piece in order: what arrays too large to hold in memory
    are written with. A context manager: leaving it without an error checks that every announced value was
    written. The file is byte for byte what np.save writes.

    `length` None: the length is what was appended, known at the end (the header, whose size does not depend on
    a 1-D array's length below 10**20, is written first with a length of 0 and rewritten when the stream closes).
    """

    def __init__(self, folder: Path, name: str, dtype: np.dtype, length: int | None = None) -> None:
        self.path = folder / f"{name}.npy"
        self.dtype, self.length, self.written = np.dtype(dtype), length, 0
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by __exit__
        self._header_bytes = self._write_header(length or 0)

    def _write_header(self, length: int) -> int:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (length,)}
        start = self._file.tell()
        np.lib.format.write_array_header_1_0(self._file, header)
        return self._file.tell() - start

    def __enter__(self) -> ArrayStream:
        return self

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if self.length is not None and self.written + values.size > self.length:
            raise ValueError(f"{self.path}: more than the {self.length:,} values announced")
        values.tofile(self._file)  # as np.save writes an array's data
        self.written += values.size

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        if error_type is None and self.length is None:
            self._file.seek(0)
            if self._write_header(self.written) != self._header_bytes:  # not below 10**20 values: cannot happen
                raise ValueError(f"{self.path}: the header of {self.written:,} values does not fit its place")
            self.length = self.written
        self._file.close()
        if error_type is None and self.written != self.length:
            raise ValueError(f"{self.path}: {self.written:,} values written of the {self.length:,} announced")


def write_added_terms(folder: Path, terms: tuple[str, ...]) -> None:
    """The words appended to the build's vocabulary (nothing is written when there are none)."""
    if terms:
        write_json_atomic(folder / ADDED_TERMS_FILE, list(terms))


def read_added_terms(folder: Path, manifest: Manifest) -> tuple[str, ...]:
    """The words appended to the build's vocabulary, checked: strings, fewer than the index's terms."""
    path = folder / ADDED_TERMS_FILE
    if not path.is_file():
        return ()
    try:
        terms = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{path} is unreadable ({error}); {REBUILD}") from None
    if not isinstance(terms, list) or not all(isinstance(term, str) for term in terms) or \
            len(terms) >= manifest.num_terms:
        raise IndexFormatError(f"{path} is not a list of fewer than {manifest.num_terms:,} words; {REBUILD}")
    return tuple(terms)


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Write the manifest last, atomically and flushed to disk: its presence marks a complete index. It records
    the size and CRC-32 of every file then in `folder` (the manifest written, with them, is returned)."""
    manifest = replace(manifest, files=record_files(folder))
    write_json_atomic(folder / MANIFEST_FILE, manifest.to_dict(), indent=2)
    return manifest


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
    if version not in READABLE_VERSIONS:
        raise IndexFormatError(f"{folder} has index format version {version!r}; this lexir reads versions "
                               f"{' and '.join(map(str, READABLE_VERSIONS))}: rebuild it with this lexir, or open it "
                               "with the lexir that wrote it")
    try:
        manifest = Manifest.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise IndexFormatError(f"{path} is incomplete or damaged ({error!r}); rebuild the index") from error
    problem = manifest_problem(manifest)
    if problem:
        raise IndexFormatError(f"{path} is damaged: {problem}; {REBUILD}")
    return manifest


def _count(value: object, low: int, high: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)


def manifest_problem(manifest: Manifest) -> str | None:
    """What is impossible in a manifest's numbers (None if nothing): counts, quantization, block size, files."""
    quantizer = manifest.quantization
    if not _count(manifest.num_docs, 1, MAX_DOCS):
        return f"num_docs is {manifest.num_docs!r}, not a count from 1 to {MAX_DOCS}"
    if not _count(manifest.num_terms, 1):
        return f"num_terms is {manifest.num_terms!r}, not a positive count"
    if not _count(manifest.num_postings, 0):
        return f"num_postings is {manifest.num_postings!r}, not a count"
    if not _count(manifest.block_size, 1):
        return f"block_size is {manifest.block_size!r}, not a positive count"
    if quantizer.bits not in SUPPORTED_BITS:
        return f"quantization bits are {quantizer.bits}, not one of {SUPPORTED_BITS}"
    if not (math.isfinite(quantizer.scale) and quantizer.scale > 0):
        return f"the quantization scale is {quantizer.scale}, not a positive number"
    if not isinstance(manifest.files, dict) or not all(
            isinstance(record, dict) and _count(record.get("bytes"), 0) and isinstance(record.get(CHECKSUM), str)
            for record in manifest.files.values()):
        return "its file records are not {path: {bytes, crc32}}"
    return None


def file_record(path: Path) -> dict[str, Any]:
    """{"bytes": size, "crc32": 8 hex digits} of one file, read in pieces."""
    crc = 0
    with open(path, "rb") as handle:
        while piece := handle.read(_CRC_PIECE):
            crc = zlib.crc32(piece, crc)
    return {"bytes": path.stat().st_size, CHECKSUM: f"{crc:08x}"}


def record_files(folder: Path) -> dict[str, dict[str, Any]]:
    """The record of every file under `folder` (relative POSIX paths, sorted) but the manifest and hidden files
    (a crashed write's temporary): what `write_manifest` stores, computed when the folder is complete."""
    files = sorted(path for path in folder.rglob("*")
                   if path.is_file() and path.name != MANIFEST_FILE and not path.name.startswith("."))
    return {path.relative_to(folder).as_posix(): file_record(path) for path in files}


def check_file_sizes(folder: Path, manifest: Manifest) -> None:
    """Every file the manifest records exists with its recorded size (a stat per file; nothing is read)."""
    for name, record in manifest.files.items():
        path = folder / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise IndexFormatError(f"index file {path} is missing; {REBUILD}") from None
        if size != record["bytes"]:
            raise IndexFormatError(f"index file {path} is damaged: {size:,} bytes, the manifest records "
                                   f"{record['bytes']:,} ({'truncated' if size < record['bytes'] else 'grown'}); "
                                   f"{REBUILD}")


def checksum_problems(folder: Path, files: dict[str, dict[str, Any]], recorder: str = "the manifest") -> list[str]:
    """One line per recorded file whose size or CRC-32 differs from its record in `files` (a manifest's `files`:
    every file is read)."""
    problems = []
    for name, record in files.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        found = file_record(path)
        if found["bytes"] != record["bytes"]:
            problems.append(f"{path} has {found['bytes']:,} bytes, {recorder} records {record['bytes']:,}")
        elif found[CHECKSUM] != record[CHECKSUM]:
            problems.append(f"{path} has CRC-32 {found[CHECKSUM]} where {recorder} records {record[CHECKSUM]} "
                            "(its bytes changed)")
    return problems


def expected_dtypes(manifest: Manifest) -> dict[str, np.dtype]:
    """The dtype of every array (impacts, term and block maxima follow the quantization bits)."""
    impact = np.dtype(manifest.quantization.dtype).newbyteorder("<")
    int32, int64 = np.dtype("<i4"), np.dtype("<i8")
    return {"offsets": int64, "doc_blocks": np.dtype("<u4"), "block_words": int64, "doc_ids": int32, "impacts": impact,
            "term_max": impact, "block_offsets": int64, "block_max": impact, "block_last_doc": int32, "doc_freq": int64,
            "doc_nnz": int32, "text_doc_freq": int64}


def array_names(manifest: Manifest) -> tuple[str, ...]:
    """The required arrays of the manifest's format version."""
    return V1_ARRAY_NAMES if manifest.format_version == 1 else ARRAY_NAMES


def read_arrays(folder: Path, manifest: Manifest, mmap: bool = True) -> dict[str, np.ndarray]:
    """The arrays of the manifest's version (`array_names`, all required) and of OPTIONAL_ARRAY_NAMES (those the
    index has), checked against the manifest at the cost of reading their headers and the offset arrays: each
    file's size, dtype and shape, offsets from 0 to num_postings and never decreasing, as many blocks per list
    as its postings fill, and block words from 0 to the end of doc_blocks.npy (so every position the kernels
    compute from the offsets lies inside the arrays; codec.py checks each block's own word range).

    Raises IndexFormatError naming the first file that fails."""
    check_file_sizes(folder, manifest)
    dtypes = expected_dtypes(manifest)
    required = array_names(manifest)
    arrays = {}
    for name in (*required, *OPTIONAL_ARRAY_NAMES):
        path = folder / f"{name}.npy"
        if path.is_file():
            arrays[name] = _load_array(path, dtypes[name], mmap)
        elif name in required:
            raise IndexFormatError(f"index file {path} is missing; {REBUILD}")
    num_terms, num_postings = manifest.num_terms, manifest.num_postings
    offsets, block_offsets = arrays["offsets"], arrays["block_offsets"]
    terms, terms_1 = (num_terms, "num_terms"), (num_terms + 1, "num_terms + 1")
    postings = (num_postings, "num_postings")
    shapes = {"offsets": terms_1, "doc_ids": postings, "impacts": postings, "term_max": terms,
              "block_offsets": terms_1, "doc_freq": terms, "doc_nnz": (manifest.num_docs, "num_docs"),
              "text_doc_freq": terms}
    for name, (length, what) in shapes.items():
        if name in arrays and arrays[name].shape[0] != length:
            raise IndexFormatError(f"index file {folder / name}.npy holds {arrays[name].shape[0]:,} values where the "
                                   f"manifest's {what} is {length:,}; {REBUILD}")
    lengths = np.diff(offsets)
    if offsets[0] != 0 or offsets[-1] != num_postings or (lengths < 0).any():
        raise IndexFormatError(f"index file {folder / 'offsets.npy'} is damaged: its offsets do not rise from 0 to "
                               f"num_postings ({num_postings:,}); {REBUILD}")
    blocks = (lengths + (manifest.block_size - 1)) // manifest.block_size
    if block_offsets[0] != 0 or not np.array_equal(np.diff(block_offsets), blocks):
        raise IndexFormatError(f"index file {folder / 'block_offsets.npy'} is damaged: its blocks do not match the "
                               f"posting lists (blocks of {manifest.block_size}); {REBUILD}")
    num_blocks = int(block_offsets[-1])
    for name, length in (("block_max", num_blocks), ("block_last_doc", num_blocks), ("block_words", num_blocks + 1)):
        if name in arrays and arrays[name].shape[0] != length:
            raise IndexFormatError(f"index file {folder / name}.npy holds {arrays[name].shape[0]:,} values for "
                                   f"{num_blocks:,} blocks; {REBUILD}")
    if "block_words" in arrays and (arrays["block_words"][0] != 0 or
                                    arrays["block_words"][-1] != arrays["doc_blocks"].shape[0] - 1):
        raise IndexFormatError(f"index file {folder / 'block_words.npy'} is damaged: its word offsets do not run "
                               f"from 0 to the spare word that ends doc_blocks.npy; {REBUILD}")
    return arrays


def _load_array(path: Path, dtype: np.dtype, mmap: bool) -> np.ndarray:
    """One array, memory-mapped: a one-dimensional C-ordered `dtype` array whose file ends where its data does."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:  # a damaged header, or data shorter than the header says
        raise IndexFormatError(f"index file {path} is damaged or truncated ({error}); {REBUILD}") from None
    if array.dtype != dtype or array.ndim != 1:
        raise IndexFormatError(f"index file {path} holds {array.dtype}{list(array.shape)}, expected a "
                               f"one-dimensional {dtype} array; {REBUILD}")
    if mmap and getattr(array, "offset", 0) + array.nbytes != os.path.getsize(path):
        raise IndexFormatError(f"index file {path} is damaged: {os.path.getsize(path):,} bytes where its header "
                               f"describes {getattr(array, 'offset', 0) + array.nbytes:,}; {REBUILD}")
    return array
