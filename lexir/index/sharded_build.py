"""Building a sharded index: one fitted encoder and one quantizer for every shard, resumable, swapped in whole.

The build works in `.NAME.partial/` beside the target:
    build.json          what is being built (source, encoder spec, chunk size, shards): a resume must match it
    encoder/            the encoder fitted once on the WHOLE corpus (BM25: vocabulary, df, N, average length)
    shard-NN/           one builder staging folder per shard (chunks/, docs.sqlite, encoder/), plus
                        ordinals/NNNNNN.npy: the input positions of the shard's documents of each global chunk
    done/NNNNNN         a global chunk whose every shard part is on disk (written last)
    out/                the finished sharded index being put together (shard-NN/ as each is assembled)
The corpus is read in global chunks; each chunk's documents are encoded together (`encode_batches`: here in
this process or a pool, or by any other pipeline that yields one CSR matrix per chunk, in order) and split by
`shard_of`. When every chunk is encoded, one Quantizer is fitted to the largest weight over ALL shards, and each
shard is assembled with it by the ordinary builder (builder.assemble), so that impacts mean the same in every
shard. shards.json is written last into out/, and out/ is swapped onto the target: an interrupted build leaves
the old target or none, and `resume=True` continues from the last finished chunk or assembled shard.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from lexir.corpus import Document, DocumentSource
from lexir.encoders.base import SparseEncoder, needs_corpus_fit
from lexir.errors import LexirError
from lexir.files import atomic_write, folder_bytes, swap_folder, write_json_atomic
from lexir.index.assembly import DEFAULT_MEMORY_LIMIT, load_chunk
from lexir.index.builder import (
    CHUNK_GLOB,
    DEFAULT_CHUNK_SIZE,
    BuildReport,
    assemble,
    chunked,
    exact_quantizer,
    save_chunk,
    staging_folder,
    unshare,
)
from lexir.index.docstore import DOCSTORE_FILE, DocStore, DuplicateIdError
from lexir.index.encoding import ChunkEncoder
from lexir.index.format import ENCODER_STATE_DIR, is_index, read_manifest
from lexir.index.postings import DEFAULT_BLOCK_SIZE
from lexir.index.quantize import Quantizer
from lexir.index.reader import InvertedIndex
from lexir.index.sharded import (
    ShardedManifest,
    check_num_shards,
    is_sharded,
    shard_name,
    shard_of,
    write_global_doc_freq,
    write_ordinals,
    write_sharded_manifest,
)

EncodeBatches = Callable[[Iterator[list[Document]]], Iterator[sp.csr_matrix]]
"""Encodes chunks of documents: for each chunk it pulls, in order, yields one CSR matrix (float32, one row per
document of the chunk, columns over the fitted encoder's vocabulary). It may pull ahead (a pipeline)."""


def local_batches(encoder: SparseEncoder, workers: int = 1) -> EncodeBatches:
    """Chunks encoded in this process, or in `workers` processes (encoding.ChunkEncoder), a few in flight."""
    return pipelined(encoder, lambda: ChunkEncoder(encoder, workers))


def pipelined(encoder: SparseEncoder, open_encoder: Callable[[], ChunkEncoder]) -> EncodeBatches:
    """Chunks encoded by a ChunkEncoder (or one with its interface: submit, in_flight, a context manager, e.g. Ray
    actors), `in_flight` of them submitted ahead, their vectors yielded in order; each document given to it as
    `encoder` takes it (Document.input_for)."""

    def encode(chunks: Iterator[list[Document]]) -> Iterator[sp.csr_matrix]:
        with open_encoder() as chunk_encoder:
            pending: deque = deque()
            for chunk in chunks:
                pending.append(chunk_encoder.submit([doc.input_for(encoder) for doc in chunk]))
                while len(pending) >= chunk_encoder.in_flight:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()

    return encode


def build_sharded_index(corpus: DocumentSource, encoder: SparseEncoder, target: Path | str, num_shards: int, *,
                        chunk_size: int = DEFAULT_CHUNK_SIZE, resume: bool = False, overwrite: bool = False,
                        bits: int = 8, block_size: int = DEFAULT_BLOCK_SIZE, progress: bool = True, workers: int = 1,
                        memory_limit: int = DEFAULT_MEMORY_LIMIT, encode_batches: EncodeBatches | None = None
                        ) -> BuildReport:
    """Encode `corpus` into `num_shards` shard indexes under `target` (see the module docstring).

    `encode_batches` replaces the local encoding (e.g. a Ray Data pipeline); `encoder` must then be the same
    encoder, fitted here first when it needs a corpus fit (its state is in `.NAME.partial/encoder/`).
    `memory_limit` bounds each shard's assembly.
    """
    started = time.perf_counter()
    target = Path(target)
    check_num_shards(num_shards)
    if chunk_size < 1:
        raise LexirError(f"chunk size must be at least 1, got {chunk_size}")
    if target.exists():
        if not (is_sharded(target) or is_index(target) or (target.is_dir() and not any(target.iterdir()))):
            raise LexirError(f"{target} exists and is not a lexir index; choose another --out")
        if not overwrite and (is_sharded(target) or is_index(target)):
            raise LexirError(f"{target} already holds an index; pass --overwrite to replace it")
    staging = staging_folder(target)
    _prepare(staging, corpus, encoder, chunk_size, num_shards, resume=resume, discard=overwrite)
    names = [shard_name(number) for number in range(num_shards)]
    out = staging / "out"
    try:
        encode = encode_batches or local_batches(encoder, workers)
        encode_seconds, encoded, resumed = _encode(corpus, staging, names, chunk_size, encode, progress)
        quantizer = exact_quantizer(corpus, bits) or Quantizer.fit(_max_weight(staging, names), bits)
        out.mkdir(exist_ok=True)
        figures = {"encode_seconds": round(encode_seconds, 3), "encoded_docs": encoded, "resumed_chunks": resumed,
                   "shards": num_shards}
        for name in names:
            if not is_index(out / name):
                assemble(staging / name, encoder, corpus.source, quantizer, block_size, memory_limit, figures,
                         started, progress)
                (staging / name / "index").rename(out / name)
            write_ordinals(out, name, _ordinals(staging / name))
        manifest = _finish(out, names, encoder, quantizer, corpus.source)
    except LexirError as error:
        _keep_staging_only_with_work(staging, error)
        raise
    swap_folder(out, target)
    shutil.rmtree(staging)
    postings = sum(read_manifest(target / name).num_postings for name in names)
    return BuildReport(target, manifest.num_docs, postings, time.perf_counter() - started, encode_seconds, encoded,
                       resumed, folder_bytes(target))


def _prepare(staging: Path, corpus: DocumentSource, encoder: SparseEncoder, chunk_size: int, num_shards: int, *,
             resume: bool, discard: bool) -> None:
    """A fresh staging folder with the fitted encoder's state, or (resume) the interrupted one, checked."""
    if staging.exists() and not resume:
        if not discard:
            raise LexirError(f"an interrupted build was found at {staging}; pass --resume to continue it or "
                             "--overwrite to start again")
        shutil.rmtree(staging)
    state = staging / ENCODER_STATE_DIR
    if staging.exists():
        if needs_corpus_fit(encoder) and state.is_dir():
            encoder.load_state(state)
        _check_same_build(staging, _build_record(corpus, encoder, chunk_size, num_shards))
        for number in range(num_shards):  # an assembled shard's out/ folder links the same document store
            unshare(staging / shard_name(number) / DOCSTORE_FILE)
        return
    staging.mkdir(parents=True)
    if needs_corpus_fit(encoder):
        if not encoder.is_fitted:
            encoder.fit(doc.input_for(encoder) for doc in corpus)
        state.mkdir()
        encoder.save_state(state)
    for number in range(num_shards):
        shard = staging / shard_name(number)
        (shard / "chunks").mkdir(parents=True)
        (shard / "ordinals").mkdir()
        if state.is_dir():
            shutil.copytree(state, shard / ENCODER_STATE_DIR)
    (staging / "done").mkdir()
    write_json_atomic(staging / "build.json", _build_record(corpus, encoder, chunk_size, num_shards), indent=2)


def _keep_staging_only_with_work(staging: Path, error: LexirError) -> None:
    """After a failed build, keep the staging folder only if it holds finished chunks worth resuming (not after a
    duplicate id, which only a changed corpus can fix)."""
    if not isinstance(error, DuplicateIdError) and any((staging / "done").glob("[0-9]*")):
        error.args = (f"{error} (finished chunks are kept in {staging}; --resume continues from them)",)
    else:
        shutil.rmtree(staging, ignore_errors=True)


def _build_record(corpus: DocumentSource, encoder: SparseEncoder, chunk_size: int, num_shards: int
                  ) -> dict[str, object]:
    return {"source": corpus.source, "encoder": encoder.spec.to_dict(), "chunk_size": chunk_size,
            "shards": num_shards}


def _check_same_build(staging: Path, current: dict[str, object]) -> None:
    path = staging / "build.json"
    if not path.is_file():
        raise LexirError(f"{staging} is not a resumable build (no build.json); pass --overwrite to start again")
    recorded = json.loads(path.read_text(encoding="utf-8"))
    changed = [key for key in current if recorded.get(key) != current[key]]
    if changed:
        raise LexirError(f"cannot resume: the interrupted build at {staging} used another {', '.join(changed)}; "
                         "pass --overwrite to start again")


def _encode(corpus: DocumentSource, staging: Path, names: list[str], chunk_size: int, encode: EncodeBatches,
            progress: bool) -> tuple[float, int, int]:
    """Encode every global chunk not yet done and split it by shard; returns (encoding seconds, documents
    encoded, chunks reused)."""
    stores = [DocStore(staging / name / DOCSTORE_FILE) for name in names]
    counts = {"encoded": 0, "resumed": 0}
    waiting: deque[tuple[int, list[Document], np.ndarray, list[int]]] = deque()
    started = time.perf_counter()

    def pending(bar: tqdm) -> Iterator[list[Document]]:
        """The chunks to encode, each remembered with its routing; done chunks only advance the positions."""
        positions = [0] * len(names)
        for number, chunk in enumerate(chunked(iter(corpus), chunk_size)):
            owners = np.fromiter((shard_of(doc.id, len(names)) for doc in chunk), dtype=np.int64, count=len(chunk))
            starts = list(positions)
            for shard, count in enumerate(np.bincount(owners, minlength=len(names))):
                positions[shard] += int(count)
            if (staging / "done" / f"{number:06d}").is_file():
                counts["resumed"] += 1
                bar.update(len(chunk))
                continue
            waiting.append((number, chunk, owners, starts))
            yield chunk

    try:
        with tqdm(total=len(corpus), unit="doc", desc=f"encoding ({len(names)} shards)", disable=not progress) as bar:
            for vectors in encode(pending(bar)):
                if not waiting:
                    raise LexirError("the encoder gave more batches than it was given chunks")
                number, chunk, owners, starts = waiting.popleft()
                _save_parts(staging, names, stores, number, chunk_size, chunk, owners, starts, vectors)
                counts["encoded"] += len(chunk)
                bar.update(len(chunk))
            if waiting:
                raise LexirError(f"the encoder stopped after {counts['encoded']:,} documents; "
                                 f"{len(waiting)} chunks were never encoded (--resume continues)")
        empty = [name for name, store in zip(names, stores) if store.count() == 0]
    finally:
        for store in stores:
            store.close()
    if len(empty) == len(names):
        raise LexirError(f"the corpus {corpus.source} has no documents")
    if empty:
        raise LexirError(f"{', '.join(empty)} would hold no documents: the corpus is too small for {len(names)} "
                         "shards; build fewer shards")
    seconds = time.perf_counter() - started if counts["encoded"] else 0.0
    return seconds, counts["encoded"], counts["resumed"]


def _save_parts(staging: Path, names: list[str], stores: list[DocStore], number: int, chunk_size: int,
                chunk: list[Document], owners: np.ndarray, starts: list[int], vectors: sp.csr_matrix) -> None:
    """One encoded global chunk split by shard: each part's documents, vectors and input positions, then the
    chunk's done marker (last: a chunk without it is encoded again on resume)."""
    if vectors.shape[0] != len(chunk):
        raise LexirError(f"the encoder gave {vectors.shape[0]} vectors for a chunk of {len(chunk)} documents")
    vectors = sp.csr_matrix(vectors, dtype=np.float32)
    for shard, name in enumerate(names):
        rows = np.flatnonzero(owners == shard)
        if not len(rows):
            continue
        stores[shard].write(starts[shard], [chunk[row] for row in rows])
        with atomic_write(staging / name / "ordinals" / f"{number:06d}.npy") as handle:
            np.save(handle, rows.astype(np.int64) + number * chunk_size)
        save_chunk(staging / name / "chunks" / f"{number:06d}.npz", vectors[rows])
    with atomic_write(staging / "done" / f"{number:06d}") as handle:
        handle.write(b"")


def _max_weight(staging: Path, names: list[str]) -> float:
    """The largest document weight over every shard's chunks: the one quantizer's scale comes from it."""
    return max((float(load_chunk(path).data.max(initial=0.0))
                for name in names for path in (staging / name / "chunks").glob(CHUNK_GLOB)), default=0.0)


def _ordinals(shard_staging: Path) -> np.ndarray:
    """The shard's documents' input positions, in its document order (its chunks in order)."""
    parts = [np.load(path) for path in sorted((shard_staging / "ordinals").glob("[0-9]*.npy"))]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _finish(out: Path, names: list[str], encoder: SparseEncoder, quantizer: Quantizer, source: str
            ) -> ShardedManifest:
    """The global statistics (summed over the shards) and shards.json, written last."""
    shards = [InvertedIndex(out / name) for name in names]
    doc_freq = np.zeros(max(index.num_terms for index in shards), dtype=np.int64)
    for index in shards:
        doc_freq[:index.num_terms] += np.asarray(index.doc_freq)
    write_global_doc_freq(out, doc_freq)
    average = getattr(encoder, "avg_doc_length", None)
    manifest = ShardedManifest(
        shards=tuple(names), encoder=encoder.spec, quantization=quantizer,
        num_docs=sum(index.num_docs for index in shards), shard_docs=tuple(index.num_docs for index in shards),
        avg_doc_length=float(average) if average is not None else None, source=source,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    for index in shards:
        index.close()
    write_sharded_manifest(out, manifest)
    return manifest
