"""The document store: external ids, titles and texts in SQLite, keyed by document number.

Document numbers are the row numbers of the index (0..N-1); the store maps them to
the ids users know and back. Rows are written per build chunk in one transaction,
so a resumed build can rewrite a chunk without duplicates.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from lexir.corpus import Document
from lexir.errors import LexirError

DOCSTORE_FILE = "docs.sqlite"
_SCHEMA = "CREATE TABLE IF NOT EXISTS docs (num INTEGER PRIMARY KEY, id TEXT NOT NULL, title TEXT, text TEXT)"


class DocStore:
    """Read and write access to one docs.sqlite file."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()  # one connection serves every thread of a server: one query at a time
        if readonly:
            if not path.is_file():
                raise LexirError(f"document store {path} is missing")
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def write(self, first_num: int, documents: Sequence[Document]) -> None:
        """Insert (or replace) documents numbered first_num, first_num+1, ... in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO docs (num, id, title, text) VALUES (?, ?, ?, ?)",
                ((first_num + i, doc.id, doc.title, doc.text) for i, doc in enumerate(documents)),
            )

    def finish(self) -> None:
        """Index the external ids, refusing duplicates, and fold the WAL into the main file."""
        duplicate = self._db.execute("SELECT id FROM docs GROUP BY id HAVING COUNT(*) > 1 LIMIT 1").fetchone()
        if duplicate:
            raise LexirError(f"document id '{duplicate[0]}' occurs more than once in the corpus; ids must be unique")
        with self._db:
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS docs_id ON docs (id)")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("PRAGMA journal_mode=DELETE")

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]

    def ids(self, nums: Iterable[int]) -> list[str]:
        return [row[1] for row in self._rows(nums, "id")]

    def documents(self, nums: Iterable[int]) -> list[Document]:
        return [Document(row[1], row[2] or "", row[3] or "") for row in self._rows(nums, "id, title, text")]

    def num_of(self, doc_id: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT num FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else row[0]

    def all_ids(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM docs ORDER BY num")]

    def _rows(self, nums: Iterable[int], columns: str) -> list[tuple]:
        wanted = [int(n) for n in nums]
        if not wanted:
            return []
        placeholders = ",".join("?" * len(wanted))
        with self._lock:
            found = {row[0]: row for row in self._db.execute(
                f"SELECT num, {columns} FROM docs WHERE num IN ({placeholders})", wanted)}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise LexirError(f"document numbers {missing[:5]} are not in the document store {self.path}")
        return [found[n] for n in wanted]

    def close(self) -> None:
        self._db.close()
