"""The document store: external ids, titles and texts in SQLite, keyed by document number.

Document numbers are the row numbers of the index (0..N-1); the store maps them to
the ids users know and back. Rows are written per build chunk in one transaction,
so a resumed build can rewrite a chunk without duplicates. A writer runs in WAL mode with
synchronous=NORMAL (a commit does not wait for the disk: a killed process loses nothing, a power cut
at most the last chunks, which a resumed build's row count check catches), and empty titles and texts
are stored as NULL (documents that arrive as vectors alone cost their id and little else).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lexir.corpus import Document
from lexir.errors import IndexFormatError, LexirError

DOCSTORE_FILE = "docs.sqlite"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SCHEMA = "CREATE TABLE IF NOT EXISTS docs (num INTEGER PRIMARY KEY, id TEXT NOT NULL, title TEXT, text TEXT)"


class DocStore:
    """Read and write access to one docs.sqlite file."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()  # one connection serves every thread of a server: one query at a time
        if readonly:
            if not path.is_file():
                raise IndexFormatError(f"document store {path} is missing; rebuild the index")
            check_sqlite_file(path)
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)

    def write(self, first_num: int, documents: Sequence[Document]) -> None:
        """Insert (or replace) documents numbered first_num, first_num+1, ... in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO docs (num, id, title, text) VALUES (?, ?, ?, ?)",
                ((first_num + i, doc.id, doc.title or None, doc.text or None) for i, doc in enumerate(documents)),
            )

    def finish(self) -> None:
        """Index the external ids, refusing duplicates, and fold the WAL into the main file. (One sort of the
        ids: the unique index finds a duplicate; only then are the ids grouped to name it.)"""
        try:
            with self._db:
                self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS docs_id ON docs (id)")
        except sqlite3.IntegrityError:
            self._raise_duplicate()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("PRAGMA journal_mode=DELETE")

    def _raise_duplicate(self) -> None:
        duplicate = self._db.execute("SELECT id FROM docs GROUP BY id HAVING COUNT(*) > 1 LIMIT 1").fetchone()
        nums = [num for (num,) in self._db.execute("SELECT num FROM docs WHERE id = ? ORDER BY num LIMIT 2",
                                                   duplicate)]
        raise DuplicateIdError(
            f"document id '{duplicate[0]}' occurs more than once in the corpus (documents {nums[0] + 1:,} and "
            f"{nums[1] + 1:,}, counting from 1 in corpus order); ids must be unique: remove or rename the "
            "duplicates and build again"
        )

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; SQLite's errors become one line naming the file."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as error:
                raise IndexFormatError(f"document store {self.path} cannot be read ({error}); the file is damaged: "
                                       "rebuild the index") from None

    def count(self) -> int:
        with self._reading() as db:
            return db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]

    def number_range(self) -> tuple[int, int] | None:
        """(smallest, largest) document number, or None when empty: two lookups in the rowid tree, O(log N)
        (one query with both MIN and MAX would scan the table)."""
        with self._reading() as db:
            low = db.execute("SELECT MIN(num) FROM docs").fetchone()[0]
            high = db.execute("SELECT MAX(num) FROM docs").fetchone()[0]
        return None if low is None else (low, high)

    def ids(self, nums: Iterable[int]) -> list[str]:
        return [row[1] for row in self._rows(nums, "id")]

    def documents(self, nums: Iterable[int]) -> list[Document]:
        return [Document(row[1], row[2] or "", row[3] or "") for row in self._rows(nums, "id, title, text")]

    def documents_between(self, first: int, stop: int) -> list[Document]:
        """Documents numbered first..stop-1, in number order: one range scan of the rowid tree (an export reads
        the whole store this way; `documents` binds one parameter per number)."""
        rows = self._rows_between(first, stop, "id, title, text")
        return [Document(row[0], row[1] or "", row[2] or "") for row in rows]

    def ids_between(self, first: int, stop: int) -> list[str]:
        """The external ids of documents first..stop-1, in number order (one range scan)."""
        return [row[0] for row in self._rows_between(first, stop, "id")]

    def _rows_between(self, first: int, stop: int, columns: str) -> list[tuple]:
        with self._reading() as db:
            rows = db.execute(f"SELECT num, {columns} FROM docs WHERE num >= ? AND num < ? ORDER BY num",
                              (first, stop)).fetchall()
        if len(rows) != stop - first or (rows and (rows[0][0], rows[-1][0]) != (first, stop - 1)):
            raise IndexFormatError(f"document store {self.path} lacks some of documents {first:,}..{stop - 1:,}; "
                                   "rebuild the index")
        return [row[1:] for row in rows]

    def num_of(self, doc_id: str) -> int | None:
        with self._reading() as db:
            row = db.execute("SELECT num FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else row[0]

    def all_ids(self) -> list[str]:
        with self._reading() as db:
            return [row[0] for row in db.execute("SELECT id FROM docs ORDER BY num")]

    def _rows(self, nums: Iterable[int], columns: str) -> list[tuple]:
        wanted = [int(n) for n in nums]
        if not wanted:
            return []
        placeholders = ",".join("?" * len(wanted))
        with self._reading() as db:
            found = {row[0]: row for row in db.execute(
                f"SELECT num, {columns} FROM docs WHERE num IN ({placeholders})", wanted)}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise LexirError(f"document numbers {missing[:5]} are not in the document store {self.path}")
        return [found[n] for n in wanted]

    def close(self) -> None:
        self._db.close()


class DuplicateIdError(LexirError):
    """Two documents of a corpus with one id: the corpus itself must change, so a build cannot resume."""


def check_sqlite_file(path: Path) -> None:
    """A cheap look at a SQLite file: its 100-byte header names it a database whose pages fill the file (a
    truncated copy is refused here rather than by a query later). Raises IndexFormatError naming the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise IndexFormatError(f"document store {path} is not a SQLite database ({size:,} bytes; damaged or "
                               "truncated); rebuild the index")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    pages_valid = header[24:28] == header[92:96]  # the page count is trusted when these match (SQLite >= 3.7)
    if page_size < 512 or size % page_size or (pages_valid and size < pages * page_size):
        raise IndexFormatError(f"document store {path} is truncated or damaged ({size:,} bytes; its header "
                               f"describes {pages:,} pages of {page_size:,}); rebuild the index")
