"""The dense side of an index directory: written here and read here, nowhere else.

    DIR/dense/
        faiss.index   FAISS index over the document vectors (inner product); row i is document number i
        dense.json    format version, dense encoder spec, FAISS type and parameters, dim, count,
                      fingerprint of the document ids in number order, faiss version, build figures, and
                      (`files`) the size and CRC-32 of faiss.index (absent in dense sides written before)

The folder is written complete as `DIR/.dense.partial/` and renamed into place, so `DIR/dense`
is either whole or absent; the sparse manifest does not change. Opening checks the count and
the id fingerprint against the index's document store, so a dense side can be copied to
another index of the same documents in the same order, and is refused anywhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lexir.encoders.base import EncoderSpec, vocabulary_fingerprint
from lexir.errors import IndexFormatError, LexirError
from lexir.files import folder_bytes, swap_folder, write_json_atomic
from lexir.index.docstore import DocStore
from lexir.index.faiss_types import FaissType, import_faiss
from lexir.index.format import file_record

DENSE_FORMAT_VERSION = 1
DENSE_DIR = "dense"
STAGING_DIR = ".dense.partial"
FAISS_FILE = "faiss.index"
DENSE_MANIFEST_FILE = "dense.json"
READD = "re-add the dense side (`lexir index add-dense DIR --overwrite`)"


@dataclass(frozen=True)
class DenseManifest:
    encoder: EncoderSpec
    faiss_type: FaissType
    dim: int
    count: int
    docs_fingerprint: str
    created_at: str
    lexir_version: str
    faiss_version: str
    format_version: int = DENSE_FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # as the sparse manifest's (format.py)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "format_version": self.format_version, "lexir_version": self.lexir_version,
            "faiss_version": self.faiss_version, "created_at": self.created_at, "encoder": self.encoder.to_dict(),
            "faiss": self.faiss_type.to_dict(), "metric": "inner_product", "dim": self.dim, "count": self.count,
            "docs_fingerprint": self.docs_fingerprint, "extra": self.extra,
        }
        if self.files:
            data["files"] = self.files
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenseManifest:
        return cls(
            encoder=EncoderSpec.from_dict(data["encoder"]), faiss_type=FaissType.from_dict(data["faiss"]),
            dim=data["dim"], count=data["count"], docs_fingerprint=data["docs_fingerprint"],
            created_at=data["created_at"], lexir_version=data["lexir_version"], faiss_version=data["faiss_version"],
            format_version=data["format_version"], extra=data.get("extra", {}), files=data.get("files", {}),
        )


def docs_fingerprint(ids: list[str]) -> str:
    """A hash of the document ids in number order: the same ordered-strings hash as vocabularies use."""
    return vocabulary_fingerprint(ids)


def dense_folder(index_dir: Path) -> Path:
    return Path(index_dir) / DENSE_DIR


def staging_folder(index_dir: Path) -> Path:
    return Path(index_dir) / STAGING_DIR


def has_dense(index_dir: Path) -> bool:
    return (dense_folder(index_dir) / DENSE_MANIFEST_FILE).is_file()


def write_dense(staging: Path, faiss_index: Any, manifest: DenseManifest) -> None:
    """Write the FAISS index, then the manifest (through a temporary file, flushed to disk, with the FAISS file's
    size and CRC-32), into `staging`."""
    import_faiss().write_index(faiss_index, str(staging / FAISS_FILE))
    manifest = replace(manifest, files={FAISS_FILE: file_record(staging / FAISS_FILE)})
    write_json_atomic(staging / DENSE_MANIFEST_FILE, manifest.to_dict(), indent=2)


def publish_dense(index_dir: Path) -> None:
    """Rename the finished staging folder onto `DIR/dense`; an old dense side is moved aside, then removed."""
    swap_folder(staging_folder(index_dir), dense_folder(index_dir))


def read_dense_manifest(index_dir: Path) -> DenseManifest:
    path = dense_folder(index_dir) / DENSE_MANIFEST_FILE
    if not path.is_file():
        raise LexirError(f"{index_dir} has no dense side; add one with `lexir index add-dense {index_dir} "
                         "--encoder minilm` (or build with --dense minilm)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IndexFormatError(f"{path} is not valid JSON: {error}") from error
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != DENSE_FORMAT_VERSION:
        raise IndexFormatError(f"{path} has dense format version {version}; this lexir reads version "
                               f"{DENSE_FORMAT_VERSION}. Re-add it with `lexir index add-dense --overwrite`.")
    try:
        manifest = DenseManifest.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise IndexFormatError(f"{path} is incomplete or damaged ({error!r}); re-add the dense side") from error
    if not (isinstance(manifest.count, int) and manifest.count >= 0 and isinstance(manifest.dim, int)
            and manifest.dim > 0):
        raise IndexFormatError(f"{path} is damaged: count {manifest.count!r}, dim {manifest.dim!r}; {READD}")
    return manifest


def check_dense_files(index_dir: Path, manifest: DenseManifest) -> None:
    """The recorded files of a dense side exist with their recorded sizes (a stat each; nothing is read)."""
    folder = dense_folder(index_dir)
    for name, record in manifest.files.items():
        path = folder / name
        size = path.stat().st_size if path.is_file() else None
        if size != record.get("bytes"):
            found = "is missing" if size is None else f"has {size:,} bytes, dense.json records {record.get('bytes')}"
            raise IndexFormatError(f"dense index file {path} {found}; {READD}")


class DenseIndex:
    """The dense side of one index, opened and checked against the index's documents."""

    def __init__(self, index_dir: Path, documents: DocStore) -> None:
        self.path = dense_folder(index_dir)
        self.manifest = read_dense_manifest(index_dir)
        ids = documents.all_ids()
        if len(ids) != self.manifest.count or docs_fingerprint(ids) != self.manifest.docs_fingerprint:
            raise IndexFormatError(
                f"the dense side {self.path} was built for other documents ({self.manifest.count:,} documents, ids "
                f"{self.manifest.docs_fingerprint}) than the index's ({len(ids):,}); re-add it with "
                f"`lexir index add-dense {index_dir} --overwrite`"
            )
        check_dense_files(index_dir, self.manifest)
        faiss = import_faiss()
        try:
            self.faiss_index = faiss.read_index(str(self.path / FAISS_FILE))
        except RuntimeError as error:  # faiss's own errors: a damaged or truncated file
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise IndexFormatError(f"dense index file {self.path / FAISS_FILE} cannot be read ({first}); "
                                   f"{READD}") from None
        if self.faiss_index.ntotal != self.manifest.count or self.faiss_index.d != self.manifest.dim:
            raise IndexFormatError(f"{self.path / FAISS_FILE} holds {self.faiss_index.ntotal} vectors of width "
                                   f"{self.faiss_index.d}, the manifest says {self.manifest.count} of width "
                                   f"{self.manifest.dim}; re-add the dense side")
        self.manifest.faiss_type.set_search_params(self.faiss_index)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, document numbers) [len(vectors), k], best first; a slot FAISS could not fill has number -1."""
        return self.faiss_index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)

    def size_bytes(self) -> int:
        return folder_bytes(self.path)
