"""Checking an index directory: the base, every live segment and every dense side.

`check_index(path)` runs what opening runs (index/format.py: the manifest's numbers, each recorded file's
size, array headers and shapes, offsets and block offsets; the document store's header and number range; the
dense side's manifest and file sizes) over every part of a live index, cheaply: `lexir serve` runs it before
it starts. `check_index(path, full=True)` (`lexir index check`) reads every byte as well: each recorded file
against its CRC-32 (an index written before lexir recorded them is reported as such and checked without),
every posting (each block's document numbers decoded and checked against its last document: below num_docs,
ascending lists; positive impacts; block and term maxima, document frequencies and lengths recomputed and
compared), SQLite's own integrity check, a fitted encoder's
state (BM25's vocabulary), and a dense side without checksums read by FAISS.

Problems are collected, each naming its file; an index with any raises one IndexFormatError listing them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lexir.errors import IndexFormatError, LexirError
from lexir.index.dense import READD, DenseIndex, check_dense_files, dense_folder, has_dense, read_dense_manifest
from lexir.index.docstore import DOCSTORE_FILE
from lexir.index.format import ENCODER_STATE_DIR, REBUILD, checksum_problems
from lexir.index.live import SEGMENTS_DIR, read_commit
from lexir.index.reader import InvertedIndex


@dataclass
class IndexCheck:
    """What a check looked at and what it found."""

    path: Path
    full: bool
    parts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)  # parts whose files have no checksums
    files_verified: int = 0
    bytes_verified: int = 0
    postings_verified: int = 0

    def summary(self) -> str:
        parts = ", ".join(self.parts)
        if not self.full:
            return f"{self.path}: structure sound ({parts})"
        line = f"{self.path}: sound ({parts}); {self.postings_verified:,} postings checked"
        if self.files_verified:
            line += (f", {self.files_verified:,} files ({self.bytes_verified / 2**20:,.1f} MiB) match their "
                     "checksums")
        if self.unrecorded:
            line += (f"; checksums absent for {', '.join(self.unrecorded)} (written before lexir recorded them): "
                     "structure and contents checked without them")
        return line


def check_index(path: Path | str, *, full: bool = False) -> IndexCheck:
    """Check an index directory (see the module docstring); raises IndexFormatError naming every damaged file."""
    path = Path(path)
    report = IndexCheck(path, full)
    base = _check_part(path, "base", report)
    try:
        commit = read_commit(path)
    except LexirError as error:
        report.problems.append(str(error))
        commit = None
    if base is not None and commit is not None:
        segments = {"": base}
        for name in commit.segments:
            segment = _check_part(path / SEGMENTS_DIR / name, f"segment {name}", report)
            if segment is not None:
                segments[name] = segment
        for name, nums in commit.deleted.items():
            index = segments.get(name)
            if index is not None and nums and not (0 <= min(nums) and max(nums) < index.num_docs):
                report.problems.append(f"{path / 'live.json'} deletes document numbers outside segment "
                                       f"'{name or 'base'}' (0..{index.num_docs - 1:,})")
        for index in segments.values():
            index.close()
    if report.problems:
        count = len(report.problems)
        advice = "" if all(READD in problem for problem in report.problems) else "; rebuild the index"
        raise IndexFormatError(f"{path} is damaged ({count} problem{'s' * (count > 1)}): "
                               f"{'; '.join(report.problems)}{advice}")
    return report


def _problem(error: LexirError) -> str:
    """An error's message without the advice that the report gives once."""
    message = str(error)
    for advice in (f"; {REBUILD}", "; rebuild the index"):
        message = message.removesuffix(advice)
    return message


def _check_part(folder: Path, label: str, report: IndexCheck) -> InvertedIndex | None:
    """One index directory (the base or a segment) and its dense side; the opened index, or None if it failed."""
    report.parts.append(label)
    problems = len(report.problems)
    try:
        index = InvertedIndex(folder)
        _ = index.docstore  # opens it: the header, and documents numbered 0..num_docs-1
    except LexirError as error:
        report.problems.append(_problem(error))
        return None
    if report.full:
        _verify_files(index, label, report)
        report.problems.extend(_posting_problems(index))
        report.problems.extend(_docstore_problems(index))
        if (folder / ENCODER_STATE_DIR).is_dir():  # fitted state (BM25): it must load and match the vocabulary
            try:
                index.load_encoder()
            except LexirError as error:
                report.problems.append(_problem(error))
        if len(report.problems) == problems:
            report.postings_verified += index.manifest.num_postings
    if has_dense(folder):
        report.parts[-1] += " + dense side"
        _check_dense(index, label, report)
    return index


def _verify_files(index: InvertedIndex, label: str, report: IndexCheck) -> None:
    if not index.manifest.files:
        report.unrecorded.append(label)
        return
    problems = checksum_problems(index.path, index.manifest.files)
    report.problems.extend(problems)
    if not problems:
        report.files_verified += len(index.manifest.files)
        report.bytes_verified += sum(record["bytes"] for record in index.manifest.files.values())


def _posting_problems(index: InvertedIndex) -> list[str]:
    """Every posting against the manifest and the other arrays, decoded a piece of lists at a time: each block
    decodes within its words to ascending document numbers below num_docs that end at its block_last_doc
    (codec.py), the block words ascend, impacts are >= 1; block maxima, term maxima, document frequencies and
    lengths are recomputed and compared."""
    folder, num_docs, block_size = index.path, index.num_docs, index.manifest.block_size
    if (np.diff(np.asarray(index.block_words)) < 1).any():
        return [f"{folder / 'block_words.npy'} holds word offsets that do not ascend"]
    offsets, block_offsets = np.asarray(index.offsets), np.asarray(index.block_offsets)
    term_max = np.zeros(index.num_terms, dtype=np.int64)
    nnz = np.zeros(num_docs, dtype=np.int64)
    try:
        for first_term, last_term, docs, impacts in index.decoded_pieces():
            if impacts.min(initial=1) < 1:
                return [f"{folder / 'impacts.npy'} holds impacts of 0 (quantization never stores one)"]
            lengths = np.diff(offsets[first_term:last_term + 1])
            blocks = (lengths + block_size - 1) // block_size
            term_of_block = np.repeat(np.arange(last_term - first_term), blocks)
            rank = np.arange(blocks.sum()) - np.repeat(np.cumsum(blocks) - blocks, blocks)
            starts = offsets[first_term:last_term][term_of_block] - offsets[first_term] + rank * block_size
            if starts.size and not np.array_equal(np.maximum.reduceat(impacts, starts), np.asarray(
                    index.block_max[block_offsets[first_term]:block_offsets[last_term]])):
                return [f"{folder / 'block_max.npy'} does not match the postings"]
            nonempty = np.flatnonzero(lengths > 0)
            if nonempty.size:
                term_max[first_term + nonempty] = np.maximum.reduceat(
                    impacts, offsets[first_term:last_term][nonempty] - offsets[first_term])
            nnz += np.bincount(docs, minlength=num_docs)
    except IndexFormatError as error:
        return [_problem(error)]
    problems = []
    expected = {"term_max": term_max, "doc_freq": np.diff(offsets), "doc_nnz": nnz}
    for name, values in expected.items():
        if not np.array_equal(np.asarray(getattr(index, name)), values):
            problems.append(f"{folder / name}.npy does not match the postings")
    return problems


def _docstore_problems(index: InvertedIndex) -> list[str]:
    """SQLite's integrity check of docs.sqlite, and one row per document."""
    path = index.path / DOCSTORE_FILE
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            verdict = [row[0] for row in db.execute("PRAGMA integrity_check(5)")]
        count = index.docstore.count()
    except (sqlite3.DatabaseError, LexirError) as error:
        return [f"{path} cannot be read ({_problem(error) if isinstance(error, LexirError) else error})"]
    if verdict != ["ok"]:
        return [f"{path} fails SQLite's integrity check ({'; '.join(verdict)})"]
    if count != index.num_docs:
        return [f"{path} holds {count:,} documents, the manifest {index.num_docs:,}"]
    return []


def _check_dense(index: InvertedIndex, label: str, report: IndexCheck) -> None:
    """A dense side: its manifest and file sizes; with `full`, its checksum, or (unrecorded) FAISS reading it."""
    try:
        manifest = read_dense_manifest(index.path)
        check_dense_files(index.path, manifest)
        if manifest.count != index.num_docs:
            report.problems.append(f"{dense_folder(index.path) / 'dense.json'} counts {manifest.count:,} vectors "
                                   f"for {index.num_docs:,} documents")
            return
        if not report.full:
            return
        if manifest.files:
            problems = checksum_problems(dense_folder(index.path), manifest.files, "dense.json")
            report.problems.extend(problems)
            if not problems:
                report.files_verified += len(manifest.files)
                report.bytes_verified += sum(record["bytes"] for record in manifest.files.values())
        else:
            report.unrecorded.append(f"{label}'s dense side")
            DenseIndex(index.path, index.docstore)
    except LexirError as error:
        report.problems.append(_problem(error))
