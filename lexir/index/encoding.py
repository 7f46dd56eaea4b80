"""Encoding chunks of documents in this process or in a pool of worker processes.

With `workers > 1` each worker process holds its own copy of the encoder (models load once per worker)
and `threads / workers` torch threads; the builder keeps a few chunks in flight, so that reading the
corpus, writing finished chunks and encoding overlap. Workers are spawned, not forked: a forked torch
runtime with live threads can deadlock.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from typing import Any, Protocol

import scipy.sparse as sp

from lexir.encoders.base import SparseEncoder
from lexir.errors import LexirError

_worker_encoder: SparseEncoder | None = None


class PendingChunk(Protocol):
    def get(self) -> sp.csr_matrix: ...


class _Done:
    """A chunk encoded in this process, with the same `get()` as a pool's AsyncResult."""

    def __init__(self, vectors: sp.csr_matrix) -> None:
        self._vectors = vectors

    def get(self) -> sp.csr_matrix:
        return self._vectors


def _start_worker(encoder: SparseEncoder, threads: int) -> None:
    import torch

    global _worker_encoder
    torch.set_num_threads(threads)
    _worker_encoder = encoder


def _encode_in_worker(texts: Sequence[str]) -> sp.csr_matrix:
    assert _worker_encoder is not None, "worker started without an encoder"
    return _worker_encoder.encode_documents(texts)


class ChunkEncoder:
    """Encodes chunks with `encoder`, in `workers` processes when more than one."""

    def __init__(self, encoder: SparseEncoder, workers: int = 1) -> None:
        if workers < 1:
            raise LexirError(f"workers must be at least 1, got {workers}")
        self.encoder = encoder
        self.workers = workers
        self._pool: Any = None

    @property
    def in_flight(self) -> int:
        """How many chunks to keep submitted ahead of the one being written."""
        return 2 * self.workers if self.workers > 1 else 1

    def __enter__(self) -> ChunkEncoder:
        if self.workers > 1:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(self.workers, initializer=_start_worker, initargs=(self.encoder, threads))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()

    def submit(self, texts: list[str]) -> PendingChunk:
        if self._pool is None:
            return _Done(self.encoder.encode_documents(texts))
        return self._pool.apply_async(_encode_in_worker, (texts,))
