"""Live index updates: added documents go into new segments, deletes are tombstones, commits are atomic.

A live index is a built index directory (the base segment) plus:
    segments/NNNNNN/   one complete index directory per added batch (the same format as a built index,
                       encoded with the base's encoder and quantized with the base's scale, so that
                       merging segments copies integers exactly)
    live.json          the commit point: generation, the live segments in order, and the deleted
                       document numbers of each segment ("" is the base)
    .write.lock        an flock that serialises writers across processes
A write builds its segment beside the others, then replaces live.json (temporary file, fsync, rename):
until that rename the write does not exist, so a crash loses at most the uncommitted batch and never
corrupts what was committed. Readers work on an immutable `Snapshot` of one commit, so a search never
sees half a write; a snapshot re-reads live.json when another process committed since.
"""

from __future__ import annotations

import fcntl
import json
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lexir.corpus import Document, DocumentList
from lexir.encoders.base import CorpusStatistics, SparseEncoder
from lexir.encoders.dense import DenseEncoder
from lexir.encoders.registry import dense_encoder_from_spec
from lexir.errors import LexirError
from lexir.files import swap_folder, write_json_atomic
from lexir.index.builder import build_index, write_index_folder
from lexir.index.dense import has_dense, read_dense_manifest
from lexir.index.dense_builder import add_dense, merge_dense
from lexir.index.docstore import DocStore
from lexir.index.format import ENCODER_STATE_DIR, read_manifest
from lexir.index.reader import InvertedIndex

logger = logging.getLogger(__name__)

LIVE_FILE = "live.json"
SEGMENTS_DIR = "segments"
LOCK_FILE = ".write.lock"
BASE = ""
DEFAULT_MAX_SEGMENTS = 8


class DocumentNotFoundError(LexirError):
    """A document id that no live segment holds."""


@dataclass(frozen=True)
class Commit:
    """What is live: segment names (oldest first; the base is implicit) and deleted numbers per segment."""

    generation: int = 0
    segments: tuple[str, ...] = ()
    deleted: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"generation": self.generation, "segments": list(self.segments),
                "deleted": {name: list(nums) for name, nums in self.deleted.items() if nums}}

    @classmethod
    def from_dict(cls, data: dict) -> Commit:
        return cls(int(data["generation"]), tuple(data["segments"]),
                   {name: tuple(int(n) for n in nums) for name, nums in data.get("deleted", {}).items()})


def read_commit(path: Path) -> Commit:
    file = path / LIVE_FILE
    if not file.is_file():
        return Commit()
    try:
        return Commit.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as error:
        raise LexirError(f"{file} is damaged ({error}); the last committed state cannot be read") from error


def write_commit(path: Path, commit: Commit) -> None:
    """Replace live.json atomically: a reader sees the old commit or the new one, never a mix."""
    write_json_atomic(path / LIVE_FILE, commit.to_dict())


class Snapshot:
    """The segments of one commit, opened; immutable, so concurrent searches see one consistent state.

    `encoder` gives the index's encoder when the statistics need it (to count the text df of deleted
    documents); by default the base segment's, loaded then.
    """

    def __init__(self, path: Path, commit: Commit, encoder: Callable[[], SparseEncoder] | None = None) -> None:
        self.path = path
        self.commit = commit
        self._encoder = encoder
        self.segments: dict[str, InvertedIndex] = {BASE: InvertedIndex(path)}
        for name in commit.segments:
            self.segments[name] = InvertedIndex(path / SEGMENTS_DIR / name)
        for segment in self.segments.values():
            _ = segment.docstore  # open every store now: a later merge may remove superseded folders
        self.deleted = {name: np.array(sorted(commit.deleted.get(name, ())), dtype=np.int64)
                        for name in self.segments}

    @property
    def base(self) -> InvertedIndex:
        return self.segments[BASE]

    @property
    def num_docs(self) -> int:
        """Documents that search can return (deleted ones excluded)."""
        return sum(index.num_docs - len(self.deleted[name]) for name, index in self.segments.items())

    @cached_property
    def doc_freq(self) -> np.ndarray:
        """Document frequency of every term over the live documents of all segments."""
        total = np.zeros(self.base.num_terms, dtype=np.int64)
        for name, index in self.segments.items():
            total += np.asarray(index.doc_freq)
            if len(self.deleted[name]):
                total -= _terms_of_documents(index, self.deleted[name])
        return total

    @cached_property
    def text_doc_freq(self) -> np.ndarray | None:
        """Text df of every term over the live documents of all segments (None unless every segment has one):
        the segments' sums less the deleted documents' own, counted from their stored texts."""
        if any(index.text_doc_freq is None for index in self.segments.values()):
            return None
        total = np.zeros(self.base.num_terms, dtype=np.int64)
        for name, index in self.segments.items():
            total += np.asarray(index.text_doc_freq)
            if len(self.deleted[name]):
                deleted = index.docstore.documents(self.deleted[name])
                total -= self.encoder.text_doc_freq([document.contents for document in deleted])
        return total

    @cached_property
    def statistics(self) -> CorpusStatistics:
        """N and document frequencies of the live documents of all segments, for query weighting."""
        return CorpusStatistics(self.num_docs, self.doc_freq, self.text_doc_freq)

    @cached_property
    def encoder(self) -> SparseEncoder:
        return self._encoder() if self._encoder is not None else self.base.load_encoder()

    def is_deleted(self, name: str, nums: np.ndarray) -> np.ndarray:
        return np.isin(nums, self.deleted[name])

    def find(self, doc_id: str) -> tuple[str, int] | None:
        """(segment, document number) of the live copy of `doc_id`; newest segments first."""
        for name in reversed(list(self.segments)):
            num = self.segments[name].docstore.num_of(doc_id)
            if num is not None and not self.is_deleted(name, np.array([num]))[0]:
                return name, num
        return None

    def document(self, doc_id: str) -> Document:
        found = self.find(doc_id)
        if found is None:
            raise DocumentNotFoundError(f"no document with id '{doc_id}'")
        name, num = found
        return self.segments[name].docstore.documents([num])[0]

    def close(self) -> None:
        for index in self.segments.values():
            index.close()


def _terms_of_documents(index: InvertedIndex, nums: np.ndarray) -> np.ndarray:
    """How many of the given documents each term's posting list holds (a scan of the postings)."""
    positions = np.flatnonzero(np.isin(index.doc_ids, nums))
    terms = np.searchsorted(index.offsets, positions, side="right") - 1
    return np.bincount(terms, minlength=index.num_terms)


class LiveIndex:
    """Adds, replaces and deletes documents of an index directory without rebuilding it.

    Args:
        path: a built index directory.
        encoder: the document encoder (loaded from the index when first needed).
        max_segments: after a write leaves more live segments than this, they are merged into one.
    """

    def __init__(self, path: Path | str, encoder: SparseEncoder | None = None,
                 max_segments: int = DEFAULT_MAX_SEGMENTS, dense_encoder: DenseEncoder | None = None) -> None:
        self.path = Path(path)
        read_manifest(self.path)  # a clear error for a missing or unfinished index
        self.max_segments = max_segments
        self._encoder = encoder
        self._dense_encoder = dense_encoder
        self._snapshot = self._open_snapshot(read_commit(self.path))
        self._commit_stamp = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            status = (self.path / LIVE_FILE).stat()
        except FileNotFoundError:
            return None
        return status.st_mtime_ns, status.st_ino

    def snapshot(self) -> Snapshot:
        """The latest committed state (re-read when another writer, maybe another process, committed)."""
        stamp = self._stamp()
        if stamp != self._commit_stamp:
            commit = read_commit(self.path)
            if commit.generation != self._snapshot.commit.generation:
                self._snapshot = self._open_snapshot(commit)
            self._commit_stamp = stamp
        return self._snapshot

    @property
    def encoder(self) -> SparseEncoder:
        if self._encoder is None:
            self._encoder = self._snapshot.base.load_encoder()
        return self._encoder

    @property
    def dense_encoder(self) -> DenseEncoder:
        """The encoder of the base's dense side, which added documents are encoded with too."""
        if self._dense_encoder is None:
            self._dense_encoder = dense_encoder_from_spec(read_dense_manifest(self.path).encoder)
        return self._dense_encoder

    @contextmanager
    def _write_lock(self) -> Iterator[Commit]:
        """Hold the cross-process writer lock; yields the commit current under it."""
        with open(self.path / LOCK_FILE, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                commit = read_commit(self.path)
                self._remove_uncommitted(commit)
                yield commit
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, documents: Sequence[Document]) -> Commit:
        """Encode `documents` into a new segment; a document whose id is live already is replaced."""
        if not documents:
            raise LexirError("no documents to add")
        ids = [doc.id for doc in documents]
        duplicates = sorted({doc_id for doc_id in ids if ids.count(doc_id) > 1})
        if duplicates:
            raise LexirError(f"document ids occur more than once in the batch: {duplicates[:5]}")
        with self._write_lock() as commit:
            snapshot = self._snapshot_of(commit)
            name = f"{commit.generation + 1:06d}"
            base = snapshot.base.manifest
            segment = self.path / SEGMENTS_DIR / name
            build_index(DocumentList(list(documents), source="live"), self.encoder, segment, progress=False,
                        quantizer=base.quantization, block_size=base.block_size)
            if has_dense(self.path):  # added documents are found by dense search too, from this commit on
                add_dense(segment, self.dense_encoder, progress=False)
            deleted = _with_deletions(commit.deleted, (snapshot.find(doc_id) for doc_id in ids))
            new = Commit(commit.generation + 1, (*commit.segments, name), deleted)
            write_commit(self.path, new)
            if len(new.segments) > self.max_segments:
                new = self._merge_segments(new)
        return new

    def delete(self, doc_ids: Sequence[str]) -> Commit:
        """Tombstone documents; an id that is not live raises DocumentNotFoundError (nothing is written)."""
        with self._write_lock() as commit:
            snapshot = self._snapshot_of(commit)
            found = [snapshot.find(doc_id) for doc_id in doc_ids]
            missing = [doc_id for doc_id, place in zip(doc_ids, found) if place is None]
            if missing:
                raise DocumentNotFoundError(f"no document with id '{missing[0]}'")
            new = Commit(commit.generation + 1, commit.segments, _with_deletions(commit.deleted, found))
            write_commit(self.path, new)
        return new

    def merge(self) -> Commit:
        """Fold every live segment into one (the base stays as built); deleted documents are dropped."""
        with self._write_lock() as commit:
            return self._merge_segments(commit) if commit.segments else commit

    def _merge_segments(self, commit: Commit) -> Commit:
        snapshot = self._snapshot_of(commit)
        name = f"{commit.generation + 1:06d}"
        dense = (lambda: self.dense_encoder) if has_dense(self.path) else None
        written = _write_merged(snapshot, list(commit.segments), self.path / SEGMENTS_DIR / name, self.encoder,
                                dense)
        deleted = {BASE: commit.deleted[BASE]} if commit.deleted.get(BASE) else {}
        merged = Commit(commit.generation + 1, (name,) if written else (), deleted)
        write_commit(self.path, merged)
        logger.info("merged %d segments into %s", len(commit.segments), name)
        return merged

    def _snapshot_of(self, commit: Commit) -> Snapshot:
        current = self.snapshot()
        return current if current.commit == commit else self._open_snapshot(commit)

    def _open_snapshot(self, commit: Commit) -> Snapshot:
        return Snapshot(self.path, commit, lambda: self.encoder)

    def _remove_uncommitted(self, commit: Commit) -> None:
        """Delete segment folders no commit names (a crashed write's, or ones a merge superseded)."""
        folder = self.path / SEGMENTS_DIR
        if not folder.is_dir():
            return
        live = set(commit.segments) | set(self._snapshot.commit.segments)
        for entry in folder.iterdir():
            if entry.name not in live:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _with_deletions(deleted: dict[str, tuple[int, ...]], places: Iterable[tuple[str, int] | None]
                    ) -> dict[str, tuple[int, ...]]:
    result = {name: set(nums) for name, nums in deleted.items()}
    for place in places:
        if place is not None:
            result.setdefault(place[0], set()).add(place[1])
    return {name: tuple(sorted(nums)) for name, nums in result.items() if nums}


def _write_merged(snapshot: Snapshot, names: list[str], target: Path, encoder: SparseEncoder,
                  dense_encoder: Callable[[], DenseEncoder] | None) -> bool:
    """One segment holding the live documents of `names`: impacts copied exactly (one shared scale), text df
    counted anew from their texts, and with `dense_encoder` (the base has a dense side) their dense vectors,
    copied from the segments' dense sides.

    Returns False, writing nothing, when no live document is left.
    """
    rows, documents, kept = [], [], []
    for name in names:
        index = snapshot.segments[name]
        keep = np.flatnonzero(~snapshot.is_deleted(name, np.arange(index.num_docs)))
        kept.append((index.path, keep))
        by_term = sp.csc_matrix((index.quantizer.dequantize(np.asarray(index.impacts)), index.doc_ids,
                                 index.offsets), shape=(index.num_docs, index.num_terms))
        rows.append(by_term.tocsr()[keep])
        documents.extend(index.docstore.documents(keep))
    if not documents:
        return False
    staging = target.parent / f".{target.name}.merging"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    store_file = staging / "docs.sqlite"
    store = DocStore(store_file)
    try:
        store.write(0, documents)
        store.finish()
    finally:
        store.close()
    base = snapshot.base
    state = base.path / ENCODER_STATE_DIR
    manifest = base.manifest
    vectors = sp.vstack(rows, format="csr", dtype=np.float32)
    write_index_folder(staging / "index", vectors, manifest.quantization, manifest.block_size, encoder,
                       "live-merge", store_file, state if state.is_dir() else None, lambda: {})
    if dense_encoder is not None:
        merge_dense(staging / "index", kept, dense_encoder)
    swap_folder(staging / "index", target)
    shutil.rmtree(staging)
    return True

