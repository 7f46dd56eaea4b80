"""Encoding a corpus on a Ray cluster: Ray Data reads it, a pool of actors encodes it, the driver writes the chunks.

The build is the local one (lexir.index.builder: staging folder, BM25's fit on the driver, resume, assembly) with
its encoding step replaced. One read task streams the corpus with lexir's own reader (Corpus, JsonVectorCollection,
CIFF: the same ids, texts and vectors, in the same order, as a local build reads), one row per build chunk, the
chunk's documents pickled as the reader made them; chunks already on disk (a resumed build) are read past, not
sent. `map_batches` hands each chunk to an actor of a fixed pool (`workers` actors, each holding one copy of the
encoder and loading its model once, with `cpus_per_worker` CPUs and `gpus_per_worker` GPUs reserved; an actor with
GPUs runs a model encoder on them, see `actor_device`), and the driver writes every chunk's documents and vectors
as it comes back, in whatever order (StagedChunks). An actor that dies is not restarted: the build stops, as a
local one whose worker dies, and `--resume` continues it. The reader's last row carries what the driver's copy of
the corpus would have learnt by reading it (weights, skipped lines). The corpus must be readable at the same path
on the node that runs the read task (a shared file system, or an ir_datasets id each node can load), as for Ray
Data's own readers.
"""

from __future__ import annotations

import math
import pickle
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import scipy.sparse as sp
from tqdm.auto import tqdm

from lexir.corpus import DocumentSource
from lexir.distributed.cluster import connect, found_lexir_error
from lexir.encoders.base import SparseEncoder
from lexir.encoders.device import check_device
from lexir.errors import LexirError
from lexir.index.builder import StagedChunks, chunked
from lexir.index.sharded_build import EncodeBatches, pipelined

READER_STATE = -1  # the chunk number of the reader's last row
READER_ATTRIBUTES = ("weights", "skipped_by_reason")  # what a read teaches a corpus object (where it has them)
READ_TASK_CPUS = 0.0  # the reader is light beside the encoders and must never wait for CPUs the pool holds


@dataclass(frozen=True)
class RayEncoding:
    """The encoding step of a build (builder.ChunkEncoding), on the Ray cluster at `address` (cluster.connect);
    `device`: where the actors run a model encoder (None: see `actor_device`)."""

    address: str
    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    device: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise LexirError(f"--workers must be at least 1, got {self.workers}")
        if not self.cpus_per_worker > 0:
            raise LexirError(f"--cpus-per-worker must be above 0, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise LexirError(f"--gpus-per-worker must be at least 0, got {self.gpus_per_worker}")
        if self.device is not None:
            check_device(self.device)

    @property
    def actor_args(self) -> tuple[int, str | None]:
        """What each actor is made with beside the encoder: its torch threads and its device."""
        return max(1, math.floor(self.cpus_per_worker)), actor_device(self.gpus_per_worker, self.device)

    def __call__(self, corpus: DocumentSource, encoder: SparseEncoder, chunks: StagedChunks, progress: bool
                 ) -> tuple[float, int, int]:
        """Encode every chunk of `corpus` not yet in `chunks` on the cluster; (seconds, documents, chunks reused)."""
        try:
            ray = connect(self.address)
            # an actor's LexirError (a model it cannot load, a GPU it lacks) as raised, not wrapped in Ray Data's
            # UserCodeException, whose cause does not survive the trip to the driver (found_lexir_error finds it)
            ray.data.DataContext.get_current().raise_original_map_exception = True
            source = ChunkSource(corpus, chunks.chunk_size, chunks.done_numbers())
            dataset = ray.data.read_datasource(source, override_num_blocks=1, num_cpus=READ_TASK_CPUS)
            with warnings.catch_warnings():  # max_restarts has no named parameter yet; Ray warns of the generic one
                warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
                encoded_chunks = dataset.map_batches(
                    ChunkEncoderActor, fn_constructor_args=(encoder, *self.actor_args),
                    batch_size=1, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=self.workers),
                    num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker or None, max_restarts=0)
            return self._write(encoded_chunks, corpus, chunks, progress)
        except Exception as error:
            lexir_error = found_lexir_error(error)  # bad input met by the reader or an encoder, on the cluster
            if lexir_error is None or lexir_error is error:
                raise
            raise lexir_error from None
        finally:
            chunks.close()

    def batches(self, encoder: SparseEncoder) -> EncodeBatches:
        """The encoding step of a sharded build (sharded_build.EncodeBatches), whose driver reads the corpus to
        route each document to its shard: its chunks go to this many Ray actors, their vectors come back in order."""
        return pipelined(encoder, lambda: RayChunkEncoder(self, encoder))

    def _write(self, encoded_chunks: Any, corpus: DocumentSource, chunks: StagedChunks, progress: bool
               ) -> tuple[float, int, int]:
        """Write each encoded chunk as it arrives, with a bar of documents/s across the cluster."""
        encoded, resumed = 0, 0
        started = time.perf_counter()
        with tqdm(total=len(corpus), unit="doc", desc=f"encoding on Ray ({self.workers} workers)",
                  disable=not progress) as bar:
            for number, documents, vectors in _rows(encoded_chunks):
                if number == READER_STATE:
                    state = pickle.loads(documents)
                    for name, value in state["attributes"].items():
                        setattr(corpus, name, value)
                    resumed = state["resumed_chunks"]
                    bar.update(state["resumed_docs"])
                    continue
                loaded = pickle.loads(documents)
                chunks.write_documents(number, loaded)
                chunks.save_vectors(number, pickle.loads(vectors))
                encoded += len(loaded)
                bar.update(len(loaded))
        chunks.check_not_empty(corpus.source)
        return (time.perf_counter() - started if encoded else 0.0), encoded, resumed


def actor_device(gpus_per_worker: float, device: str | None) -> str | None:
    """The device an actor runs a model encoder on: `device` where one is asked for (--device); "cuda" where the
    actor reserves GPUs (Ray makes only those visible to it, as CUDA_VISIBLE_DEVICES, so "cuda" is the first of its
    own); else None, the encoder's own (cpu unless it was made with another)."""
    if device is not None:
        return device
    return "cuda" if gpus_per_worker > 0 else None


def _rows(dataset: Any) -> Iterator[tuple[int, bytes, bytes]]:
    """(chunk number, pickled documents, pickled vectors) of every row the pipeline yields."""
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        yield from zip(batch.column("chunk").to_pylist(), batch.column("documents").to_pylist(),
                       batch.column("vectors").to_pylist())


def _table(numbers: list[int], documents: list[bytes], vectors: list[bytes]) -> Any:
    import pyarrow as pa

    return pa.table({"chunk": pa.array(numbers, pa.int64()), "documents": pa.array(documents, pa.large_binary()),
                     "vectors": pa.array(vectors, pa.large_binary())})


def read_chunks(corpus: DocumentSource, chunk_size: int, done: frozenset[int]) -> Iterator[Any]:
    """The read task (on its own copy of `corpus`): one row per chunk not in `done` (its vectors still empty), then
    the reader's state; the copy's work files (a CIFF file's inversion) are removed at the end."""
    resumed_chunks = resumed_docs = 0
    try:
        for number, chunk in enumerate(chunked(iter(corpus), chunk_size)):
            if number in done:
                resumed_chunks += 1
                resumed_docs += len(chunk)
                continue
            yield _table([number], [pickle.dumps(chunk)], [b""])
        attributes = {name: getattr(corpus, name) for name in READER_ATTRIBUTES if hasattr(corpus, name)}
        state = {"attributes": attributes, "resumed_chunks": resumed_chunks, "resumed_docs": resumed_docs}
        yield _table([READER_STATE], [pickle.dumps(state)], [b""])
    finally:
        getattr(corpus, "close", lambda: None)()


class ChunkEncoderActor:
    """One actor of the pool: the encoder (its model loaded on the first chunk, once, on `device` where it has a
    model and a device is given), `threads` torch threads. Ray Data calls it with a batch of chunk rows; a
    RayChunkEncoder calls `encode` with one chunk's inputs."""

    def __init__(self, encoder: SparseEncoder, threads: int, device: str | None) -> None:
        import torch

        torch.set_num_threads(threads)
        if device is not None and hasattr(encoder, "device"):  # a model encoder (BM25, vectors: no model to place)
            encoder.device = device  # the actor's own copy, its model not loaded yet
        self.encoder = encoder

    def encode(self, inputs: list[Any]) -> sp.csr_matrix:
        return self.encoder.encode_documents(inputs)

    def __call__(self, batch: Any) -> Any:
        numbers = batch.column("chunk").to_pylist()
        documents = batch.column("documents").to_pylist()
        vectors = [b"" if number == READER_STATE else
                   pickle.dumps(self.encode([doc.input_for(self.encoder) for doc in pickle.loads(payload)]))
                   for number, payload in zip(numbers, documents)]
        return _table(numbers, documents, vectors)


class RayChunkEncoder:
    """encoding.ChunkEncoder's interface over `workers` Ray actors (submitted in turn), for builds whose driver
    reads the corpus itself."""

    def __init__(self, encoding: RayEncoding, encoder: SparseEncoder) -> None:
        self.encoding = encoding
        self.encoder = encoder
        self.in_flight = 2 * encoding.workers
        self._actors: list[Any] = []
        self._submitted = 0

    def __enter__(self) -> RayChunkEncoder:
        ray = connect(self.encoding.address)
        actor = ray.remote(num_cpus=self.encoding.cpus_per_worker, num_gpus=self.encoding.gpus_per_worker,
                           max_restarts=0)(ChunkEncoderActor)
        self._actors = [actor.remote(self.encoder, *self.encoding.actor_args) for _ in range(self.encoding.workers)]
        return self

    def __exit__(self, *exc_info: object) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)

    def submit(self, inputs: list[Any]) -> RemoteChunk:
        actor = self._actors[self._submitted % len(self._actors)]
        self._submitted += 1
        return RemoteChunk(actor.encode.remote(inputs))


@dataclass(frozen=True)
class RemoteChunk:
    """A chunk an actor is encoding; `get` waits for its vectors (a LexirError the actor raised stays one)."""

    reference: Any

    def get(self) -> sp.csr_matrix:
        import ray

        try:
            return ray.get(self.reference)
        except Exception as error:
            lexir_error = found_lexir_error(error)
            if lexir_error is None:
                raise
            raise lexir_error from None


def ChunkSource(corpus: DocumentSource, chunk_size: int, done: frozenset[int]) -> Any:  # noqa: N802 (a class)
    """A Ray Data source of one read task (read_chunks): a compressed file or an ir_datasets id reads only in order."""
    from ray.data import Datasource
    from ray.data.block import BlockMetadata
    from ray.data.datasource import ReadTask

    class _ChunkSource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[Any]:
            metadata = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
            return [ReadTask(lambda: read_chunks(corpus, chunk_size, done), metadata)]

    return _ChunkSource()
