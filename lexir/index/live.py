"""Live index updates: added documents go into new segments, deletes are tombstones, commits are atomic.

A live index is a built index directory (the base segment) plus:
    segments/NNNNNN/   one complete index directory per added batch (the same format as a built index,
                       encoded with the base's encoder and quantized with the base's scale, so that
                       merging segments copies integers exactly)
    live.json          the commit point: generation, the live segments in order, and the deleted
                       document numbers of each segment ("" is the base)
    .write.lock        an flock that serialises writers across processes
A write builds its segment beside the others, fsyncs it, then replaces live.json (temporary file, fsync,
rename): until that rename the write does not exist, so a crash loses at most the uncommitted batch and never
corrupts what was committed. Readers work on an immutable `Snapshot` of one commit, so a search never
sees half a write; a snapshot re-reads live.json when another process committed since.

Concurrency within a process: writes that arrive while another is being committed wait in a queue, and the
next leader commits all of them as one segment and one live.json (group commit); each caller returns once the
commit holding its change is on disk. The snapshot is rebuilt once per commit, under a lock, and shared by
every thread; segments it keeps are not reopened (a committed segment never changes).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lexir.corpus import Document
from lexir.encoders.base import CorpusStatistics, SparseEncoder
from lexir.encoders.dense import DenseEncoder
from lexir.encoders.registry import dense_encoder_from_spec
from lexir.errors import LexirError
from lexir.files import fsync_folder, swap_folder, write_json_atomic
from lexir.index.builder import write_index_folder
from lexir.index.dense import has_dense, read_dense_manifest
from lexir.index.dense_builder import add_dense, merge_dense
from lexir.index.docstore import DocStore
from lexir.index.format import read_manifest
from lexir.index.postings import invert, quantize_rows
from lexir.index.reader import InvertedIndex

logger = logging.getLogger(__name__)

LIVE_FILE = "live.json"
SEGMENTS_DIR = "segments"
LOCK_FILE = ".write.lock"
BASE = ""
DEFAULT_MAX_SEGMENTS = 8
GROUP_DOCUMENTS = 10_000  # a group commit takes queued writes up to this many documents (at least one write)
# np.load parses each array header with ast.literal_eval, which CPython 3.11 cannot run in two threads at once
# ("SystemError: AST constructor recursion depth mismatch"): this process opens one segment at a time
_OPENING = threading.Lock()


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


def open_segment(path: Path) -> InvertedIndex:
    """Open one segment (arrays mapped, document store opened: a later merge may remove its folder)."""
    with _OPENING:
        index = InvertedIndex(path)
        _ = index.docstore
    return index


@dataclass(frozen=True)
class _DeletedCounts:
    """What a segment's deleted documents `nums` add to its document frequencies (vector df, text df)."""

    nums: frozenset[int]
    doc_freq: np.ndarray
    text_doc_freq: np.ndarray | None


class Snapshot:
    """The segments of one commit, opened; immutable, so concurrent searches see one consistent state.

    `encoder` gives the index's encoder when the statistics need it (to count the text df of deleted
    documents); by default the base segment's, loaded then. `previous`, a snapshot of an earlier commit of the
    same index, lends its opened segments (segments never change) and its counts of deleted documents.
    """

    def __init__(self, path: Path, commit: Commit, encoder: Callable[[], SparseEncoder] | None = None,
                 previous: Snapshot | None = None) -> None:
        self.path = path
        self.commit = commit
        self._encoder = encoder
        opened: Mapping[str, InvertedIndex] = previous.segments if previous is not None else {}
        self.segments: dict[str, InvertedIndex] = {}
        for name in (BASE, *commit.segments):
            index = opened.get(name)
            self.segments[name] = index if index is not None else open_segment(
                path if name == BASE else path / SEGMENTS_DIR / name)
        self.deleted = {name: np.array(sorted(commit.deleted.get(name, ())), dtype=np.int64)
                        for name in self.segments}
        # counts of deleted documents already made for the segments this snapshot shares with `previous`
        self._earlier: dict[str, _DeletedCounts] = {}
        if previous is not None:
            with previous._lock:
                self._earlier = {name: counted for name, counted in previous._counted.items()
                                 if self.segments.get(name) is opened[name]}
        self._counted: dict[str, _DeletedCounts] = {}
        self._lock = threading.RLock()

    @property
    def base(self) -> InvertedIndex:
        return self.segments[BASE]

    @property
    def num_docs(self) -> int:
        """Documents that search can return (deleted ones excluded)."""
        return sum(index.num_docs - len(self.deleted[name]) for name, index in self.segments.items())

    @property
    def doc_freq(self) -> np.ndarray:
        """Document frequency of every term over the live documents of all segments."""
        with self._lock:
            return self._doc_freq

    @property
    def text_doc_freq(self) -> np.ndarray | None:
        """Text df of every term over the live documents of all segments (None unless every segment has one):
        the segments' sums less the deleted documents' own, counted from their stored texts."""
        with self._lock:
            return self._text_doc_freq

    @cached_property
    def added_terms(self) -> tuple[str, ...]:
        """The words live writes appended to the build's vocabulary: the newest segment records every one of
        them (each write and merge records those of the commit it started from, then its own)."""
        return max((index.added_terms for index in self.segments.values()), key=len)

    @property
    def num_terms(self) -> int:
        """The vocabulary of the live documents: the build's terms and the appended words."""
        return self.base.num_terms + len(self.added_terms)

    @cached_property
    def _doc_freq(self) -> np.ndarray:
        total = np.zeros(self.num_terms, dtype=np.int64)
        for name, index in self.segments.items():
            total[:index.num_terms] += np.asarray(index.doc_freq)  # an older segment knows fewer words
            if len(self.deleted[name]):
                total[:index.num_terms] -= self._deleted_counts(name, text=False).doc_freq
        return total

    @cached_property
    def _text_doc_freq(self) -> np.ndarray | None:
        if any(index.text_doc_freq is None for index in self.segments.values()):
            return None
        total = np.zeros(self.num_terms, dtype=np.int64)
        for name, index in self.segments.items():
            total[:index.num_terms] += np.asarray(index.text_doc_freq)
            if len(self.deleted[name]):
                total[:index.num_terms] -= self._deleted_counts(name, text=True).text_doc_freq
        return total

    @property
    def statistics(self) -> CorpusStatistics:
        """N and document frequencies of the live documents of all segments, for query weighting (computed once,
        by the first thread that asks)."""
        with self._lock:
            return self._statistics

    @cached_property
    def _statistics(self) -> CorpusStatistics:
        return CorpusStatistics(self.num_docs, self.doc_freq, self.text_doc_freq, self.added_terms)

    def _deleted_counts(self, name: str, *, text: bool) -> _DeletedCounts:
        """The df counts of segment `name`'s deleted documents: those an earlier snapshot counted, plus the
        documents deleted since (a scan of the postings, and with `text` their stored texts tokenized)."""
        nums = frozenset(int(num) for num in self.deleted[name])
        counted = self._counted.get(name)
        if counted is not None and counted.nums == nums and (counted.text_doc_freq is not None or not text):
            return counted
        usable = [one for one in (counted, self._earlier.get(name)) if one is not None and one.nums <= nums
                  and (one.text_doc_freq is not None or not text)]
        zeros = np.zeros(self.segments[name].num_terms, dtype=np.int64)  # the segment's own vocabulary
        earlier = max(usable, key=lambda one: len(one.nums)) if usable else _DeletedCounts(
            frozenset(), zeros, zeros if text else None)
        new = np.array(sorted(nums - earlier.nums), dtype=np.int64)
        index = self.segments[name]
        if not len(new):
            doc_freq, text_doc_freq = earlier.doc_freq, earlier.text_doc_freq
        else:
            doc_freq = earlier.doc_freq + _terms_of_documents(index, new)
            text_doc_freq = None  # not counted for the new documents unless asked: never a stale count
            if text:
                documents = index.docstore.documents(new)
                text_doc_freq = earlier.text_doc_freq + self.encoder.text_doc_freq([doc.contents for doc in documents])
        counted = self._counted[name] = _DeletedCounts(nums, doc_freq, text_doc_freq)
        return counted

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
    counts = np.zeros(index.num_terms, dtype=np.int64)
    offsets = np.asarray(index.offsets)
    for first_term, _, docs, _ in index.decoded_pieces():
        positions = np.flatnonzero(np.isin(docs, nums)) + offsets[first_term]
        counts += np.bincount(np.searchsorted(offsets, positions, side="right") - 1, minlength=index.num_terms)
    return counts


class _Write:
    """One caller's add or delete, waiting in the group-commit queue for the commit that holds it."""

    def __init__(self, kind: str, items: Sequence) -> None:
        self.kind = kind  # "add" (items: documents) or "delete" (items: ids)
        self.items = list(items)
        self.result: Commit | None = None
        self.error: BaseException | None = None
        self.done = False

    def finish(self, result: Commit | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True


class _Plan:
    """What a group of writes does to one commit, applied in arrival order: the documents of the new segment
    (a later copy of an id replaces an earlier one) and the tombstones of live copies in older segments."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.added: dict[str, Document] = {}
        self.tombstones: list[tuple[str, int]] = []
        self._gone: set[str] = set()  # ids whose copy in `snapshot` is tombstoned by this group

    def add(self, documents: Sequence[Document]) -> None:
        for document in documents:
            self._retire(document.id)
            self.added.pop(document.id, None)
            self.added[document.id] = document

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Tombstone every id, or (an id that is not live) raise DocumentNotFoundError and change nothing."""
        for doc_id in doc_ids:
            if doc_id not in self.added and (doc_id in self._gone or self.snapshot.find(doc_id) is None):
                raise DocumentNotFoundError(f"no document with id '{doc_id}'")
        for doc_id in doc_ids:
            self.added.pop(doc_id, None)
            self._retire(doc_id)

    def _retire(self, doc_id: str) -> None:
        if doc_id not in self._gone:
            self._gone.add(doc_id)
            place = self.snapshot.find(doc_id)
            if place is not None:
                self.tombstones.append(place)


class LiveIndex:
    """Adds, replaces and deletes documents of an index directory without rebuilding it.

    Safe to share between threads: concurrent writes are grouped into one commit (see the module docstring),
    and `snapshot()` gives every thread the same snapshot of the latest commit.

    Args:
        path: a built index directory.
        encoder: the document encoder (loaded from the index when first needed).
        max_segments: after a write leaves more live segments than this, they are merged into one (None: the
            default, DEFAULT_MAX_SEGMENTS).
        dense_encoder: the encoder of the dense side (loaded from the index when first needed).
        device: where the loaded encoders run their models (cpu by default; BM25 runs none).
    """

    def __init__(self, path: Path | str, encoder: SparseEncoder | None = None,
                 max_segments: int | None = None, dense_encoder: DenseEncoder | None = None,
                 device: str | None = None) -> None:
        self.path = Path(path)
        read_manifest(self.path)  # a clear error for a missing or unfinished index
        self.max_segments = DEFAULT_MAX_SEGMENTS if max_segments is None else max_segments
        self.device = device
        self._encoder = encoder
        self._dense_encoder = dense_encoder
        self._loading = threading.Lock()  # encoders are loaded once
        self._refreshing = threading.Lock()  # one thread opens the snapshot of a new commit; the others wait
        self._queue: list[_Write] = []
        self._turn = threading.Condition()  # guards the queue and `_leading`; waiting writers sleep on it
        self._leading = False  # whether a thread is committing a group
        self._live_file = str(self.path / LIVE_FILE)  # stat on every search: no Path built each time
        self._commit_stamp = self._stamp()
        self._snapshot = self._open_snapshot(read_commit(self.path))

    def _stamp(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self._live_file)
        except FileNotFoundError:
            return None
        return status.st_mtime_ns, status.st_ino

    def snapshot(self) -> Snapshot:
        """The latest committed state (re-read when another writer, maybe another process, committed)."""
        if self._stamp() == self._commit_stamp:
            return self._snapshot
        with self._refreshing:
            stamp = self._stamp()  # before reading the commit: a later commit changes it again
            if stamp != self._commit_stamp:
                commit = read_commit(self.path)
                if commit.generation != self._snapshot.commit.generation:
                    self._snapshot = self._open_snapshot(commit)
                self._commit_stamp = stamp
            return self._snapshot

    @property
    def encoder(self) -> SparseEncoder:
        if self._encoder is None:
            with self._loading:
                if self._encoder is None:
                    self._encoder = self._snapshot.base.load_encoder(device=self.device)
        return self._encoder

    @property
    def dense_encoder(self) -> DenseEncoder:
        """The encoder of the base's dense side, which added documents are encoded with too."""
        if self._dense_encoder is None:
            with self._loading:
                if self._dense_encoder is None:
                    self._dense_encoder = dense_encoder_from_spec(read_dense_manifest(self.path).encoder,
                                                                  device=self.device)
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
        """Encode `documents` into a new segment; a document whose id is live already is replaced.

        Returns the commit that holds them, once it is on disk (it may hold other threads' writes too)."""
        if not documents:
            raise LexirError("no documents to add")
        ids = [doc.id for doc in documents]
        if len(set(ids)) < len(ids):
            duplicates = sorted({doc_id for doc_id in ids if ids.count(doc_id) > 1})
            raise LexirError(f"document ids occur more than once in the batch: {duplicates[:5]}")
        for document in documents:
            _check_text(document.id, document.title, document.text)
        return self._submit(_Write("add", documents))

    def delete(self, doc_ids: Sequence[str]) -> Commit:
        """Tombstone documents; an id that is not live raises DocumentNotFoundError (nothing is written)."""
        return self._submit(_Write("delete", doc_ids))

    def _submit(self, write: _Write) -> Commit:
        """Queue one write and wait for the commit holding it. When no thread is committing, this one leads:
        it commits the writes queued by then (oldest first, up to GROUP_DOCUMENTS documents) as one group, then
        wakes the waiting threads; those whose write it held return, and one of the others leads next."""
        with self._turn:
            self._queue.append(write)
            while not write.done:
                if self._leading:
                    self._turn.wait()
                    continue
                self._leading = True
                group, size = [], 0
                while self._queue and (not group or size + len(self._queue[0].items) <= GROUP_DOCUMENTS):
                    group.append(self._queue.pop(0))
                    size += len(group[-1].items)
                self._turn.release()
                try:
                    self._commit_group(group)
                finally:
                    for unfinished in (one for one in group if not one.done):  # interrupted (KeyboardInterrupt)
                        unfinished.finish(error=LexirError("the commit holding this write was interrupted"))
                    self._turn.acquire()
                    self._leading = False
                    self._turn.notify_all()
        if write.error is not None:
            raise write.error
        assert write.result is not None
        return write.result

    def _commit_group(self, group: list[_Write]) -> None:
        """Commit `group` as one commit; when that fails, each write alone (one bad write fails only itself)."""
        try:
            with self._write_lock() as commit:
                self._commit_writes(commit, group)
        except Exception as error:  # noqa: BLE001 - every waiting caller gets its own outcome
            pending = [write for write in group if not write.done]
            if len(group) == 1:
                group[0].finish(error=error)
            elif pending:
                logger.warning("a group of %d writes failed (%s); committing them one by one", len(group), error)
                for write in pending:
                    self._commit_group([write])

    def _commit_writes(self, commit: Commit, group: list[_Write]) -> None:
        """Apply the writes (in order) to `commit` as one new commit, made durable, and finish each write with it;
        then merge if the policy says so (a failed merge is logged: the writes are committed all the same)."""
        snapshot = self._snapshot_of(commit)
        plan = _Plan(snapshot)
        applied = []
        for write in group:
            try:
                plan.add(write.items) if write.kind == "add" else plan.delete(write.items)
                applied.append(write)
            except DocumentNotFoundError as error:
                if len(group) == 1:
                    raise
                write.finish(error=error)
        if not applied:
            return
        segments = commit.segments
        if plan.added:
            name = f"{commit.generation + 1:06d}"
            self._write_segment(snapshot, name, list(plan.added.values()))
            segments = (*segments, name)
        new = Commit(commit.generation + 1, segments, _with_deletions(commit.deleted, plan.tombstones))
        self._publish(new, snapshot)
        for write in applied:
            write.finish(new)
        if len(new.segments) > self.max_segments:
            try:
                self._merge_segments(new)
            except Exception:  # noqa: BLE001 - the next write over the limit merges again
                logger.exception("merging the segments of %s failed", self.path.name)

    def _write_segment(self, snapshot: Snapshot, name: str, documents: list[Document]) -> None:
        """Encode documents into segments/NAME (and its dense side), every file flushed to disk. The encoder takes
        the vocabulary the commit's live writes grew, then appends the words these documents bring (BM25)."""
        texts = [document.input_for(self.encoder) for document in documents]
        self.encoder.use_corpus_statistics(snapshot.statistics)
        self.encoder.grow_vocabulary(texts)
        vectors = sp.csr_matrix(self.encoder.encode_documents(texts), dtype=np.float32)
        # added documents are found by dense search too, from this commit on
        dense = (lambda folder: add_dense(folder, self.dense_encoder, progress=False)) if has_dense(self.path) else None
        write_segment_folder(snapshot.base, self.path / SEGMENTS_DIR / name, documents, vectors, self.encoder, "live",
                             dense)

    def _publish(self, commit: Commit, snapshot: Snapshot) -> None:
        """Write `commit` (durably) and make it this process's snapshot, opened once from `snapshot`'s segments."""
        with self._refreshing:  # readers that see the new live.json wait for its snapshot instead of opening one
            write_commit(self.path, commit)
            opened = Snapshot(self.path, commit, lambda: self.encoder, previous=snapshot)
            self._snapshot, self._commit_stamp = opened, self._stamp()

    def merge(self) -> Commit:
        """Fold every live segment into one (the base stays as built); deleted documents are dropped.

        Nothing is written when there is nothing to fold (no segment, or one without deletions that has a dense
        side where the base has one): a merge that waited for another one finds its work done."""
        return self.merge_commits()[1]

    def merge_commits(self) -> tuple[Commit, Commit]:
        """`merge`, returning the commit it found under the writer lock and the commit it left (the same one
        when there was nothing to fold)."""
        with self._write_lock() as commit:
            if not commit.segments or (len(commit.segments) == 1 and not self._needs_merge(commit.segments[0], commit)):
                return commit, commit
            return commit, self._merge_segments(commit)

    def _needs_merge(self, name: str, commit: Commit) -> bool:
        """Whether merging the one segment `name` alone would change it: deletions to drop, or a dense side that
        the base has and it lacks."""
        lacks_dense = has_dense(self.path) and not has_dense(self.path / SEGMENTS_DIR / name)
        return bool(commit.deleted.get(name)) or lacks_dense

    def _merge_segments(self, commit: Commit) -> Commit:
        snapshot = self._snapshot_of(commit)
        name = f"{commit.generation + 1:06d}"
        dense = (lambda: self.dense_encoder) if has_dense(self.path) else None
        self.encoder.use_corpus_statistics(snapshot.statistics)  # the merged segment records the grown vocabulary
        written = _write_merged(snapshot, list(commit.segments), self.path / SEGMENTS_DIR / name, self.encoder, dense)
        deleted = {BASE: commit.deleted[BASE]} if commit.deleted.get(BASE) else {}
        merged = Commit(commit.generation + 1, (name,) if written else (), deleted)
        self._publish(merged, snapshot)
        logger.info("merged %d segments into %s", len(commit.segments), name)
        return merged

    def _snapshot_of(self, commit: Commit) -> Snapshot:
        current = self.snapshot()
        return current if current.commit == commit else self._open_snapshot(commit)

    def _open_snapshot(self, commit: Commit) -> Snapshot:
        previous = getattr(self, "_snapshot", None)
        return Snapshot(self.path, commit, lambda: self.encoder, previous=previous)

    def _remove_uncommitted(self, commit: Commit) -> None:
        """Delete what no commit names: segment folders (a crashed write's, or ones a merge superseded) and
        temporary live.json files a killed writer left."""
        for orphan in self.path.glob(f".{LIVE_FILE}.*.tmp"):
            orphan.unlink(missing_ok=True)
        folder = self.path / SEGMENTS_DIR
        if not folder.is_dir():
            return
        live = set(commit.segments) | set(self._snapshot.commit.segments)
        for entry in folder.iterdir():
            if entry.name not in live:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _check_text(*values: str) -> None:
    """Ids, titles and texts must be storable as UTF-8 (JSON's "\\ud800" escapes give lone surrogates)."""
    for value in values:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise LexirError(f"a document holds a character that is not valid Unicode ({error.reason} at "
                             f"position {error.start})") from None


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under `folder` (and `folder`'s own entry in its parent) to disk."""
    for root, _, files in os.walk(folder):
        for name in files:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        fsync_folder(root)
    fsync_folder(folder.parent)


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
        doc_ids, impacts = index.decoded()
        by_term = sp.csc_matrix((index.quantizer.dequantize(impacts), doc_ids, index.offsets),
                                shape=(index.num_docs, index.num_terms))
        kept_rows = by_term.tocsr()[keep]  # columns of the whole live vocabulary (an older segment knows fewer)
        rows.append(sp.csr_matrix((kept_rows.data, kept_rows.indices, kept_rows.indptr),
                                  shape=(len(keep), snapshot.num_terms)))
        documents.extend(index.docstore.documents(keep))
    if not documents:
        return False
    vectors = sp.vstack(rows, format="csr", dtype=np.float32)
    dense = (lambda folder: merge_dense(folder, kept, dense_encoder)) if dense_encoder is not None else None
    write_segment_folder(snapshot.base, target, documents, vectors, encoder, "live-merge", dense)
    return True


def write_segment_folder(base: InvertedIndex, target: Path, documents: list[Document], vectors: sp.csr_matrix,
                         encoder: SparseEncoder, source: str, dense: Callable[[Path], object] | None) -> None:
    """Write a segment (an index directory with the base's quantizer and block size; the encoder state stays
    the base's) holding `documents` with their `vectors`, staged beside `target` and swapped in; `dense(folder)`
    gives it a dense side. Every file is flushed to disk before this returns."""
    staging = target.parent / f".{target.name}.writing"
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
    manifest = base.manifest
    # no copy of the encoder state (BM25's vocabulary: megabytes, fsynced on every write): the base's serves
    postings = invert(quantize_rows(vectors, manifest.quantization))
    write_index_folder(staging / "index", postings, manifest.quantization, manifest.block_size, encoder, source,
                       store_file, None, lambda: {})
    if dense is not None:
        dense(staging / "index")
    _fsync_tree(staging / "index")
    swap_folder(staging / "index", target)
    shutil.rmtree(staging)

