"""Document sources: an ir_datasets id, a BEIR-layout folder, or a JSONL file.

Every source yields `Document(id, title, text)` in a stable order. A JSONL line
that is not a JSON object with a string `_id` stops the read with its line
number, unless `skip_bad_lines` is set (then it is counted in `skipped`).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lexir.errors import LexirError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """What an encoder sees: title and text joined (BEIR's convention).

        Some collections (Cranfield) repeat the title at the start of the text; the
        title is then not added a second time.
        """
        if not self.title or self.text.startswith(self.title):
            return self.text
        return f"{self.title} {self.text}"


class Corpus:
    """A re-iterable stream of documents with a known (or unknown) length."""

    def __init__(self, source: str, *, skip_bad_lines: bool = False) -> None:
        self.source = source
        self.skip_bad_lines = skip_bad_lines
        self.skipped = 0
        path = Path(source).expanduser()
        if path.is_dir():
            corpus_file = path / "corpus.jsonl"
            if not corpus_file.is_file():
                raise LexirError(
                    f"folder {path} has no corpus.jsonl (BEIR layout: corpus.jsonl, queries.jsonl, qrels/)"
                )
            self._jsonl: Path | None = corpus_file
            self._dataset_id = None
        elif path.is_file():
            self._jsonl = path
            self._dataset_id = None
        else:
            self._jsonl = None
            self._dataset_id = _check_dataset_id(source)

    def __len__(self) -> int:
        if self._dataset_id is not None:
            import ir_datasets

            return ir_datasets.load(self._dataset_id).docs_count() or sum(1 for _ in self)
        return sum(1 for _ in _open_text(self._jsonl))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Document]:
        self.skipped = 0
        if self._dataset_id is not None:
            yield from _iter_ir_dataset(self._dataset_id)
        else:
            yield from self._iter_jsonl(self._jsonl)  # type: ignore[arg-type]

    def _iter_jsonl(self, path: Path) -> Iterator[Document]:
        with _open_text(path) as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield _parse_line(line)
                except ValueError as error:
                    if not self.skip_bad_lines:
                        raise LexirError(
                            f"{path}:{number}: {error} (fix the line, or pass --skip-bad-lines to skip such lines)"
                        ) from None
                    self.skipped += 1
                    logger.warning("%s:%d skipped: %s", path, number, error)


class DocumentList:
    """Documents already in memory (e.g. a batch added to a live index), read like a Corpus."""

    def __init__(self, documents: list[Document], source: str = "documents") -> None:
        self.documents = documents
        self.source = source
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self) -> Iterator[Document]:
        return iter(self.documents)


DocumentSource = Corpus | DocumentList


def _parse_line(line: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"malformed JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object with _id, title, text")
    doc_id = record.get("_id", record.get("id"))
    if not isinstance(doc_id, (str, int)) or str(doc_id) == "":
        raise ValueError("missing or empty _id")
    title, text = record.get("title") or "", record.get("text") or ""
    if not isinstance(title, str) or not isinstance(text, str):
        raise ValueError("title and text must be strings")
    return Document(str(doc_id), title, text)


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _check_dataset_id(dataset_id: str) -> str:
    import ir_datasets

    if dataset_id not in ir_datasets.registry:
        raise LexirError(
            f"'{dataset_id}' is neither a file, a folder, nor an ir_datasets id "
            "(e.g. beir/nfcorpus, cranfield; see https://ir-datasets.com)"
        )
    if not ir_datasets.load(dataset_id).has_docs():
        raise LexirError(f"ir_datasets '{dataset_id}' has no documents")
    return dataset_id


def _iter_ir_dataset(dataset_id: str) -> Iterator[Document]:
    import ir_datasets

    for doc in ir_datasets.load(dataset_id).docs_iter():
        yield Document(doc.doc_id, getattr(doc, "title", "") or "", getattr(doc, "text", "") or "")
