"""Adding a dense side to an index: encode its stored documents, build the FAISS index, swap it in.

The texts come from the index's own docs.sqlite in document-number order, title and text
joined exactly as the sparse side saw them (`Document.contents`), so row i of the FAISS index
is document number i. Vectors stream to a memory-mapped file in the staging folder
(`DIR/.dense.partial/`), so memory holds one chunk of texts and the FAISS index, not a second
copy of every vector. The staging folder is removed whatever happens; only a finished dense side
is renamed into place (see dense.py), so an interrupted run leaves the index as it was.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import lexir
from lexir.encoders.base import EncoderSpec
from lexir.encoders.dense import DenseEncoder
from lexir.errors import LexirError
from lexir.files import folder_bytes
from lexir.index.dense import (
    DenseIndex,
    DenseManifest,
    dense_folder,
    docs_fingerprint,
    has_dense,
    publish_dense,
    staging_folder,
    write_dense,
)
from lexir.index.docstore import DOCSTORE_FILE, DocStore
from lexir.index.faiss_types import FaissType, import_faiss
from lexir.index.format import read_manifest

logger = logging.getLogger(__name__)

DEFAULT_DENSE_CHUNK_SIZE = 4096


@dataclass(frozen=True)
class DenseBuildReport:
    """What adding a dense side did and what it cost."""

    path: Path
    count: int
    dim: int
    faiss_type: FaissType
    seconds: float
    encode_seconds: float
    dense_bytes: int

    @property
    def docs_per_second(self) -> float:
        return self.count / self.encode_seconds if self.encode_seconds > 0 else float("nan")


def add_dense(index_dir: Path | str, encoder: DenseEncoder, *, faiss_type: FaissType | str = "flat",
              overwrite: bool = False, chunk_size: int = DEFAULT_DENSE_CHUNK_SIZE, progress: bool = True
              ) -> DenseBuildReport:
    """Encode every document of the index at `index_dir` with `encoder` and add (or replace) its dense side."""
    started = time.perf_counter()
    index_dir = Path(index_dir)
    read_manifest(index_dir)  # a complete sparse index, or a clear error
    faiss_type = FaissType.parse(faiss_type) if isinstance(faiss_type, str) else faiss_type
    import_faiss()  # fail before the long encoding, not after it
    if chunk_size < 1:
        raise LexirError(f"chunk size must be at least 1, got {chunk_size}")
    if has_dense(index_dir) and not overwrite:
        raise LexirError(f"{index_dir} already has a dense side ({dense_folder(index_dir)}); pass --overwrite to "
                         "replace it")
    staging = staging_folder(index_dir)
    if staging.exists():
        logger.info("removing %s, left by an interrupted run", staging)
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        store = DocStore(index_dir / DOCSTORE_FILE, readonly=True)
        try:
            ids = store.all_ids()
            faiss_type.check_fits(len(ids), encoder.dim)
            vectors, encode_seconds = _encode(store, len(ids), encoder, staging, chunk_size, progress)
        finally:
            store.close()
        faiss_index = _faiss_index(faiss_type, vectors, chunk_size)
        del vectors
        (staging / "vectors.npy").unlink()
        figures = {"encode_seconds": round(encode_seconds, 3),
                   "docs_per_second": round(len(ids) / encode_seconds, 2) if encode_seconds > 0 else None,
                   "build_seconds": round(time.perf_counter() - started, 3)}
        _publish(index_dir, faiss_index, faiss_type, encoder, ids, figures)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    folder = dense_folder(index_dir)
    return DenseBuildReport(folder, len(ids), encoder.dim, faiss_type, time.perf_counter() - started, encode_seconds,
                            folder_bytes(folder))


def merge_dense(index_dir: Path, parts: Sequence[tuple[Path, np.ndarray]], encoder: Callable[[], DenseEncoder]
                ) -> None:
    """A flat dense side for a merged segment at `index_dir` whose documents are, in order, the kept documents of
    `parts` (a source segment folder and its kept document numbers): vectors are copied from the sources' flat
    dense sides, so nothing is encoded again; if a source has none (added before the index had a dense side),
    every document is encoded with `encoder()`."""
    if not all(has_dense(folder) for folder, _ in parts):
        add_dense(index_dir, encoder(), progress=False)
        return
    copied = []
    for folder, keep in parts:
        store = DocStore(folder / DOCSTORE_FILE, readonly=True)
        try:
            source = DenseIndex(folder, store)
        finally:
            store.close()
        copied.append(source.faiss_index.reconstruct_n(0, source.faiss_index.ntotal)[keep])
        spec, dim = source.manifest.encoder, source.manifest.dim
    vectors = np.concatenate(copied).astype(np.float32)
    staging = staging_folder(index_dir)
    staging.mkdir()
    try:
        store = DocStore(index_dir / DOCSTORE_FILE, readonly=True)
        try:
            ids = store.all_ids()
        finally:
            store.close()
        flat = FaissType.parse("flat")
        _publish(index_dir, _faiss_index(flat, vectors, DEFAULT_DENSE_CHUNK_SIZE), flat, _Described(spec, dim), ids,
                 {"merged_from": len(parts)})
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@dataclass(frozen=True)
class _Described:
    """What a dense side's manifest records of its encoder, when the vectors are copied rather than encoded."""

    spec: EncoderSpec
    dim: int


def _publish(index_dir: Path, faiss_index: Any, faiss_type: FaissType, encoder: DenseEncoder | _Described,
             ids: list[str], figures: dict[str, Any]) -> None:
    """Write the FAISS index and its manifest into the staging folder, then swap it in as `DIR/dense`."""
    manifest = DenseManifest(
        encoder=encoder.spec, faiss_type=faiss_type, dim=encoder.dim, count=len(ids),
        docs_fingerprint=docs_fingerprint(ids), created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        lexir_version=lexir.__version__, faiss_version=import_faiss().__version__, extra={"build": figures},
    )
    write_dense(staging_folder(index_dir), faiss_index, manifest)
    publish_dense(index_dir)


def _faiss_index(faiss_type: FaissType, vectors: np.ndarray, chunk_size: int) -> Any:
    """The FAISS index of `vectors` (trained first where the type needs it), added a chunk at a time."""
    faiss_index = faiss_type.create(vectors)
    for start in range(0, len(vectors), chunk_size):
        faiss_index.add(np.ascontiguousarray(vectors[start : start + chunk_size]))
    return faiss_index


def _encode(store: DocStore, count: int, encoder: DenseEncoder, staging: Path, chunk_size: int, progress: bool
            ) -> tuple[np.ndarray, float]:
    """All documents' vectors in a memory-mapped [count, dim] float32 file, and the seconds spent encoding."""
    vectors = np.lib.format.open_memmap(staging / "vectors.npy", mode="w+", dtype=np.float32,
                                        shape=(count, encoder.dim))
    encode_seconds = 0.0
    _ = encoder.model  # loaded before the clock starts: the figure is encoding speed
    with tqdm(total=count, unit="doc", desc="dense encoding", disable=not progress) as bar:
        for start in range(0, count, chunk_size):
            texts = [doc.contents for doc in store.documents(range(start, min(start + chunk_size, count)))]
            tic = time.perf_counter()
            vectors[start : start + len(texts)] = encoder.encode_documents(texts)
            encode_seconds += time.perf_counter() - tic
            bar.update(len(texts))
    return vectors, encode_seconds
