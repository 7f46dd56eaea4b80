"""Chunked, resumable, atomic index builds.

A build works in a hidden staging folder beside the target, `.NAME.partial/`:
    build.json        what is being built (source, encoder spec, chunk size): a resume must match it
    encoder/          state of a fitted encoder (BM25), saved before any chunk is encoded
    chunks/NNNNNN.npz encoded document vectors, one file per finished chunk (written via rename)
    docs.sqlite       the document store, one transaction per chunk
    postings/         the assembly's intermediate files (see assembly.py)
When every chunk is encoded, the postings are assembled in memory bounded by `memory_limit` (assembly.py:
two passes over the chunks, runs inverted into raw files) and written into `staging/index/` (with the
documents' text df, for encoders that weigh queries by text IDF, counted from the finished
docs.sqlite), the manifest is written last, and that folder is renamed onto the target. An interrupted
build therefore leaves either the old target untouched or no target at all, never a
directory that opens as a wrong index; `resume=True` continues from the last finished chunk (an interrupted
assembly is done again).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

import lexir
from lexir.corpus import Document, DocumentSource
from lexir.encoders.base import SparseEncoder, needs_corpus_fit
from lexir.errors import LexirError
from lexir.files import atomic_write, folder_bytes, swap_folder, write_json_atomic
from lexir.formats.weights import WeightRange
from lexir.index.assembly import (
    DEFAULT_MEMORY_LIMIT,
    POSTINGS_DIR,
    MemoryPlan,
    count_chunks,
    fresh_folder,
    invert_chunks,
)
from lexir.index.docstore import DOCSTORE_FILE, DocStore, DuplicateIdError
from lexir.index.encoding import ChunkEncoder, PendingChunk
from lexir.index.format import (
    ENCODER_STATE_DIR,
    ArrayStream,
    Manifest,
    is_index,
    write_added_terms,
    write_array,
    write_manifest,
)
from lexir.index.postings import (
    DEFAULT_BLOCK_SIZE,
    PIECE_POSTINGS,
    InvertedPostings,
    read_piece,
    write_posting_files,
)
from lexir.index.quantize import Quantizer

logger = logging.getLogger(__name__)
T = TypeVar("T")
VOCABULARY_BAR_DELAY = 1.0  # seconds

DEFAULT_CHUNK_SIZE = 2048
TEXT_DF_BATCH = 4096
CHUNK_GLOB = "[0-9][0-9][0-9][0-9][0-9][0-9].npz"


@dataclass(frozen=True)
class BuildReport:
    """What a build did and what it cost."""

    path: Path
    num_docs: int
    num_postings: int
    seconds: float
    encode_seconds: float
    encoded_docs: int
    resumed_chunks: int
    index_bytes: int

    @property
    def docs_per_second(self) -> float:
        """Encoding throughput over the documents encoded in this run."""
        return self.encoded_docs / self.encode_seconds if self.encode_seconds > 0 else float("nan")


def staging_folder(target: Path) -> Path:
    return target.parent / f".{target.name}.partial"


def build_index(
    corpus: DocumentSource,
    encoder: SparseEncoder,
    target: Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    resume: bool = False,
    overwrite: bool = False,
    bits: int = 8,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: bool = True,
    quantizer: Quantizer | None = None,
    workers: int = 1,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    encode: ChunkEncoding | None = None,
) -> BuildReport:
    """Encode every document of `corpus` and write an index directory at `target`.

    `quantizer` fixes the impact scale (live segments share their base index's scale, so that merging
    them is exact); by default the scale comes from this corpus's largest weight. `workers > 1` encodes
    in that many processes (see encoding.py). `memory_limit` (bytes) bounds the memory the assembly of the
    postings takes, whatever the corpus size (see assembly.py). `encode` replaces this machine's encoding of the
    chunks (a Ray cluster's: lexir/distributed/encoding.py); it writes them through `StagedChunks`.
    """
    started = time.perf_counter()
    target = Path(target)
    if chunk_size < 1:
        raise LexirError(f"chunk size must be at least 1, got {chunk_size}")
    if target.exists():
        if not (is_index(target) or _is_empty_folder(target)):
            raise LexirError(f"{target} exists and is not a lexir index; choose another --out")
        if not overwrite and is_index(target):
            raise LexirError(f"{target} already holds an index; pass --overwrite to replace it")
    staging = staging_folder(target)
    staging_existed = staging.exists()
    try:
        _prepare_staging(target, corpus, encoder, chunk_size, resume=resume, discard=overwrite,
                         progress=progress)
        if encode is None:
            encode_seconds, encoded, resumed = _encode_chunks(corpus, encoder, staging, chunk_size, progress, workers)
        else:
            encode_seconds, encoded, resumed = encode(corpus, encoder, StagedChunks(staging, chunk_size), progress)
        build_figures = {"encode_seconds": round(encode_seconds, 3), "encoded_docs": encoded,
                         "docs_per_second": round(encoded / encode_seconds, 2) if encode_seconds > 0 else None,
                         "resumed_chunks": resumed}
        quantizer = quantizer or exact_quantizer(corpus, bits)
        num_docs, num_postings = assemble(staging, encoder, corpus.source, quantizer or bits, block_size,
                                           memory_limit, build_figures, started, progress)
    except LexirError as error:
        if not staging_existed:
            _keep_staging_only_with_work(staging, error)
        raise
    swap_folder(staging / "index", target)
    shutil.rmtree(staging)
    index_bytes = folder_bytes(target)
    return BuildReport(target, num_docs, num_postings, time.perf_counter() - started, encode_seconds, encoded,
                       resumed, index_bytes)


def exact_quantizer(corpus: DocumentSource, bits: int) -> Quantizer | None:
    """The identity quantization for pre-encoded documents whose weights, all read, are whole numbers that fit
    `bits` (see formats/weights.py); None for any other source."""
    weights = getattr(corpus, "weights", None)
    return Quantizer.identity(bits) if isinstance(weights, WeightRange) and weights.fits_exactly(bits) else None


def _keep_staging_only_with_work(staging: Path, error: LexirError) -> None:
    """After a failed build, keep the staging folder only if it holds encoded chunks worth resuming: not after
    a duplicate id, which only a changed corpus can fix (and chunks of the old corpus must not be reused)."""
    if not staging.is_dir():
        return
    if not isinstance(error, DuplicateIdError) and any((staging / "chunks").glob(CHUNK_GLOB)):
        error.args = (f"{error} (finished chunks are kept in {staging}; --resume continues from them)",)
    else:
        shutil.rmtree(staging)


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _prepare_staging(target: Path, corpus: DocumentSource, encoder: SparseEncoder, chunk_size: int, *, resume: bool,
                     discard: bool, progress: bool) -> None:
    staging = staging_folder(target)
    if staging.exists() and not resume:
        if not discard:
            raise LexirError(
                f"an interrupted build of {target} was found at {staging}; pass --resume to continue it "
                "or --overwrite to start again"
            )
        shutil.rmtree(staging)
    if staging.exists():
        _load_fitted_state(staging, encoder)
        _check_same_build(staging, corpus, encoder, chunk_size)
        unshare(staging / DOCSTORE_FILE)
        return
    staging.mkdir(parents=True)
    (staging / "chunks").mkdir()
    if needs_corpus_fit(encoder):
        if not encoder.is_fitted:
            logger.info("fitting %s on the corpus", type(encoder).__name__)
            # a pass of its own; its bar waits a moment, so that a bad line met at once is the only line printed
            with tqdm(unit="doc", desc="vocabulary", disable=not progress, delay=VOCABULARY_BAR_DELAY) as bar:
                encoder.fit(_counted((doc.input_for(encoder) for doc in corpus), bar))
        (staging / ENCODER_STATE_DIR).mkdir()
        encoder.save_state(staging / ENCODER_STATE_DIR)
    build = {"source": corpus.source, "encoder": encoder.spec.to_dict(), "chunk_size": chunk_size}
    write_json_atomic(staging / "build.json", build, indent=2)


def _counted(items: Iterable[T], bar: tqdm) -> Iterator[T]:
    """`items`, each counted on `bar` as it passes."""
    for item in items:
        yield item
        bar.update()


def _load_fitted_state(staging: Path, encoder: SparseEncoder) -> None:
    if needs_corpus_fit(encoder) and (staging / ENCODER_STATE_DIR).is_dir():
        encoder.load_state(staging / ENCODER_STATE_DIR)


def _check_same_build(staging: Path, corpus: DocumentSource, encoder: SparseEncoder, chunk_size: int) -> None:
    path = staging / "build.json"
    if not path.is_file():
        raise LexirError(f"{staging} is not a resumable build (no build.json); pass --overwrite to start again")
    recorded = json.loads(path.read_text(encoding="utf-8"))
    current = {"source": corpus.source, "encoder": encoder.spec.to_dict(), "chunk_size": chunk_size}
    changed = [key for key in current if recorded.get(key) != current[key]]
    if changed:
        raise LexirError(
            f"cannot resume: the interrupted build at {staging} used another {', '.join(changed)}; "
            "pass --overwrite to start again"
        )


def chunked(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    """The documents in lists of `size` (the last shorter): chunk number n holds documents n * size onwards."""
    while chunk := list(islice(documents, size)):
        yield chunk


class StagedChunks:
    """The encoded chunks of a staging folder and its document store: what an encoding writes, chunk by chunk.

    Chunk `number` holds documents number * chunk_size onwards. Its documents are written before its vectors, so
    that a chunk file on disk always has its documents in the store (a resumed build rewrites the rest).
    """

    def __init__(self, staging: Path, chunk_size: int) -> None:
        self.folder = staging / "chunks"
        self.chunk_size = chunk_size
        self.store = DocStore(staging / DOCSTORE_FILE)

    def path(self, number: int) -> Path:
        return self.folder / f"{number:06d}.npz"

    def is_done(self, number: int) -> bool:
        return self.path(number).is_file()

    def done_numbers(self) -> frozenset[int]:
        """The numbers of the chunks already on disk."""
        return frozenset(int(path.stem) for path in self.folder.glob(CHUNK_GLOB))

    def write_documents(self, number: int, documents: list[Document]) -> None:
        self.store.write(number * self.chunk_size, documents)

    def save_vectors(self, number: int, vectors: sp.csr_matrix) -> None:
        save_chunk(self.path(number), vectors)

    def check_not_empty(self, source: str) -> None:
        if self.store.count() == 0:
            raise LexirError(f"the corpus {source} has no documents")

    def close(self) -> None:
        self.store.close()


class ChunkEncoding(Protocol):
    """An encoding of every chunk of `corpus` not yet in `chunks` (it closes them); returns (encoding wall seconds,
    documents encoded, chunks reused), as the builder reports them."""

    def __call__(self, corpus: DocumentSource, encoder: SparseEncoder, chunks: StagedChunks, progress: bool
                 ) -> tuple[float, int, int]: ...


def _encode_chunks(corpus: DocumentSource, encoder: SparseEncoder, staging: Path, chunk_size: int, progress: bool,
                   workers: int = 1) -> tuple[float, int, int]:
    """Encode every chunk not yet on disk on this machine; returns (encoding wall seconds, documents encoded,
    chunks reused)."""
    chunks = StagedChunks(staging, chunk_size)
    encoded, resumed = 0, 0
    pending: deque[tuple[int, int, PendingChunk]] = deque()
    started = time.perf_counter()
    try:
        with tqdm(total=len(corpus), unit="doc", desc="encoding", disable=not progress) as bar, \
                ChunkEncoder(encoder, workers) as chunk_encoder:
            for number, chunk in enumerate(chunked(iter(corpus), chunk_size)):
                if chunks.is_done(number):
                    resumed += 1
                    bar.update(len(chunk))
                    continue
                chunks.write_documents(number, chunk)
                pending.append((number, len(chunk), chunk_encoder.submit([doc.input_for(encoder) for doc in chunk])))
                while len(pending) >= chunk_encoder.in_flight:
                    encoded += _finish_chunk(chunks, pending.popleft(), bar)
            while pending:
                encoded += _finish_chunk(chunks, pending.popleft(), bar)
        chunks.check_not_empty(corpus.source)
    finally:
        chunks.close()
    return (time.perf_counter() - started if encoded else 0.0), encoded, resumed


def _finish_chunk(chunks: StagedChunks, item: tuple[int, int, PendingChunk], bar: tqdm) -> int:
    """Wait for one chunk's vectors and save them; chunks finish in corpus order."""
    number, size, result = item
    chunks.save_vectors(number, result.get())
    bar.update(size)
    return size


def save_chunk(path: Path, vectors: sp.csr_matrix) -> None:
    with atomic_write(path) as handle:  # its temporary name starts with a dot: never matches CHUNK_GLOB
        sp.save_npz(handle, vectors.astype(np.float32), compressed=False)


def assemble(staging: Path, encoder: SparseEncoder, source: str, bits: int | Quantizer, block_size: int,
              memory_limit: int, build_figures: dict[str, object], started: float, progress: bool
              ) -> tuple[int, int]:
    """Invert the encoded chunks in bounded memory (assembly.py) and write staging/index from them."""
    assemble_started = time.perf_counter()
    chunk_files = sorted((staging / "chunks").glob(CHUNK_GLOB))
    folder = fresh_folder(staging / POSTINGS_DIR)
    counts = count_chunks(chunk_files, folder, progress)
    quantizer = bits if isinstance(bits, Quantizer) else Quantizer.fit(counts.max_weight, bits)
    plan = MemoryPlan.fit(memory_limit, counts, quantizer.dtype.itemsize)
    store = DocStore(staging / DOCSTORE_FILE)
    try:
        if store.count() != counts.num_docs:
            raise LexirError(f"the document store holds {store.count()} documents but {counts.num_docs} were "
                             "encoded; pass --overwrite to rebuild")
        store.finish()
    finally:
        store.close()
    postings = invert_chunks(chunk_files, counts, quantizer, plan, folder, progress)
    output = staging / "index"
    if output.exists():
        shutil.rmtree(output)
    state = staging / ENCODER_STATE_DIR
    assembly = {"memory_limit": memory_limit, "runs": len(plan.runs(counts))}

    def figures() -> dict[str, object]:
        now = time.perf_counter()
        return {"build": {**build_figures, "assemble_seconds": round(now - assemble_started, 3),
                          "assembly": assembly, "build_seconds": round(now - started, 3)}}

    manifest = write_index_folder(output, postings, quantizer, block_size, encoder, source,
                                  staging / DOCSTORE_FILE, state if state.is_dir() else None, figures,
                                  piece_postings=plan.piece_postings, progress=progress)
    return manifest.num_docs, manifest.num_postings


def write_index_folder(output: Path, postings: InvertedPostings, quantizer: Quantizer, block_size: int,
                       encoder: SparseEncoder, source: str, docstore_file: Path, encoder_state: Path | None,
                       extra: Callable[[], dict[str, object]], *, piece_postings: int = PIECE_POSTINGS,
                       progress: bool = False) -> Manifest:
    """Write a complete index folder from inverted postings (quantized with `quantizer`; in memory or memory-
    mapped) and a finished document store; manifest last. Posting files go through the one seam,
    postings.write_posting_files, `piece_postings` postings at a time.

    `extra` is called just before the manifest is written (so build timings include the postings).
    """
    output.mkdir(parents=True)
    write_posting_files(output, postings.offsets, postings.doc_ids, postings.impacts, block_size,
                        piece_postings=piece_postings, progress=progress)
    with ArrayStream(output, "doc_nnz", np.int32, postings.num_docs) as doc_nnz:
        for start in range(0, postings.num_docs, piece_postings):
            doc_nnz.append(read_piece(postings.doc_nnz, start, start + piece_postings))
    text_df = stored_text_doc_freq(encoder, docstore_file)
    if text_df is not None:
        write_array(output, "text_doc_freq", text_df)
    write_added_terms(output, encoder.added_terms)
    _link_or_copy(docstore_file, output / DOCSTORE_FILE)
    if encoder_state is not None:
        shutil.copytree(encoder_state, output / ENCODER_STATE_DIR)
    manifest = Manifest(
        encoder=encoder.spec, num_docs=postings.num_docs, num_terms=postings.num_terms,
        num_postings=postings.num_postings, quantization=quantizer, block_size=block_size,
        lexir_version=lexir.__version__, source=source,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), extra=extra(),
    )
    return write_manifest(output, manifest)


def _link_or_copy(source: Path, target: Path) -> None:
    """A finished file into the index folder: a hard link (no bytes copied: the document store of a large
    corpus is gigabytes), or a copy where the file system has no links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def unshare(path: Path) -> None:
    """Give a resumed build its own copy of a file it will write to that a finished index also links (a build
    killed after its index was swapped in, before its staging folder was removed)."""
    if path.is_file() and path.stat().st_nlink > 1:
        with atomic_write(path) as handle, open(path, "rb") as original:
            shutil.copyfileobj(original, handle)


def stored_text_doc_freq(encoder: SparseEncoder, docstore_file: Path) -> np.ndarray | None:
    """The text df of every document of a document store (`encoder.text_doc_freq`, on `Document.contents` as
    the encoder saw them), or None for an encoder that has no use for it."""
    total = encoder.text_doc_freq([])  # zeros, or None: no document need be read to know
    if total is None:
        return None
    store = DocStore(docstore_file, readonly=True)
    try:
        count = store.count()
        for start in range(0, count, TEXT_DF_BATCH):
            documents = store.documents(range(start, min(start + TEXT_DF_BATCH, count)))
            total += encoder.text_doc_freq([document.contents for document in documents])
    finally:
        store.close()
    return total
