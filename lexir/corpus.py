"""Document sources: an ir_datasets id, a BEIR-layout folder, or a JSONL file.

Every source yields `Document(id, title, text)` in a stable order. A JSONL line
that is not valid UTF-8, not a JSON object, or whose `_id` is not a non-empty string
or whose `title`/`text` is present but not a string (null included) stops the read
with its line number, unless `skip_bad_lines` is set (then it is counted in
`skipped`, by reason in `skipped_by_reason`). A `.gz` file that ends early or is
damaged stops the read with a one-line error naming the file, always.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import IO, Any, TypeVar

from lexir.errors import LexirError

logger = logging.getLogger(__name__)

LOGGED_SKIPS = 10  # skipped lines logged one by one per read; the rest are only counted
T = TypeVar("T")


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

    @property
    def encoder_input(self) -> str | Mapping[str, float]:
        """What the index's encoder is given for this document: its contents (text encoders)."""
        return self.contents

    def input_for(self, encoder: object) -> str | tuple[str, str] | Mapping[str, float]:
        """What `encoder` is given: (title, contents) for an encoder that scores the title as a field of its own
        (`fielded`, encoders/bm25_fields.py), else `encoder_input`."""
        return (self.title, self.contents) if getattr(encoder, "fielded", False) else self.encoder_input


@dataclass(frozen=True)
class VectorDocument(Document):
    """A document that arrives already encoded (JsonVectorCollection, CIFF): its {token: weight} map is what the
    index's `vectors` encoder is given; `text` holds its `contents` when the file has them (title is empty)."""

    vector: Mapping[str, float] = dataclass_field(default_factory=dict)

    @property
    def encoder_input(self) -> Mapping[str, float]:
        return self.vector


class LineReader:
    """Reads a JSONL(.gz) file's lines through a parser, stopping at the first bad line with its line number, or,
    with `skip_bad_lines`, skipping bad lines and counting them by reason (the first few are logged)."""

    def __init__(self, *, skip_bad_lines: bool = False, skip_option: str | None = "--skip-bad-lines") -> None:
        self.skip_bad_lines = skip_bad_lines
        self.skip_option = skip_option  # named in the error, where the command has one
        self.skipped_by_reason: Counter[str] = Counter()
        self.records: int | None = None  # records the last full read yielded: a length known without a pass

    @property
    def skipped(self) -> int:
        """Lines skipped by the last full read (with `skip_bad_lines`)."""
        return sum(self.skipped_by_reason.values())

    def parsed_lines(self, path: Path, parse: Callable[[bytes], T]) -> Iterator[T]:
        """`parse` of every non-blank line of `path`; it raises BadLine for a line that is not a record."""
        self.skipped_by_reason = Counter()
        records = 0
        with _open_lines(path) as lines:
            for number, raw in enumerate(lines, start=1):
                try:
                    if not raw.strip():
                        continue
                    yield parse(raw)
                    records += 1
                except BadLine as error:
                    if not self.skip_bad_lines:
                        skip = f", or pass {self.skip_option} to skip such lines" if self.skip_option else ""
                        raise LexirError(f"{path}:{number}: {error} (fix the line{skip})") from None
                    self.skipped_by_reason[error.reason] += 1
                    if self.skipped <= LOGGED_SKIPS:
                        logger.warning("%s:%d skipped: %s%s", path, number, error, "" if self.skipped < LOGGED_SKIPS
                                       else " (further bad lines are counted, not logged)")
        self.records = records

    def skipped_summary(self) -> str:
        """"3 bad lines skipped: 2 malformed JSON, 1 invalid UTF-8" (empty when none were)."""
        if not self.skipped:
            return ""
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in self.skipped_by_reason.most_common())
        return f"skipped {self.skipped:,} bad line{'s' * (self.skipped != 1)}: {reasons}"


def count_lines(path: Path) -> int:
    """Lines of a JSONL(.gz) file (an upper bound on its records, for progress bars): a pass over the file, which
    a reader that has read itself whole skips (LineReader.records)."""
    with _open_lines(path) as lines:
        return sum(1 for _ in lines)


class Corpus(LineReader):
    """A re-iterable stream of documents with a known (or unknown) length."""

    def __init__(self, source: str, *, skip_bad_lines: bool = False) -> None:
        super().__init__(skip_bad_lines=skip_bad_lines)
        self.source = source
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
        return self.records if self.records is not None else count_lines(self._jsonl)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Document]:
        if self._dataset_id is not None:
            self.skipped_by_reason = Counter()
            yield from _iter_ir_dataset(self._dataset_id)
        else:
            yield from self.parsed_lines(self._jsonl, _parse_line)  # type: ignore[arg-type]


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


class BadLine(ValueError):
    """A JSONL line that is not a document; `reason` is its kind, counted when lines are skipped."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def json_object(raw: bytes, fields: str) -> dict[str, Any]:
    """One JSONL line as a JSON object; BadLine when it is not valid UTF-8, not JSON, or not an object (`fields`
    names what the object should hold, for the message)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadLine("invalid UTF-8", f"byte 0x{raw[error.start]:02x} at column {error.start + 1}") from None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadLine("malformed JSON", error.msg) from None
    if not isinstance(record, dict):
        raise BadLine("not a JSON object", f"expected an object with {fields}")
    return record


def _parse_line(raw: bytes) -> Document:
    record = json_object(raw, "_id, title, text")
    doc_id = record.get("_id", record.get("id"))
    if doc_id is None or doc_id == "":
        raise BadLine("missing or empty _id", "")
    if not isinstance(doc_id, str):
        raise BadLine("non-string _id", f"_id is {json.dumps(doc_id)[:40]}; ids are strings (quote it)")
    for field in ("title", "text"):
        if field in record and not isinstance(record[field], str):
            value = record[field]
            reason = f"null {field}" if value is None else f"non-string {field}"
            raise BadLine(reason, f"{field} is {json.dumps(value)[:40]}; give a string (\"\" when there is none)")
    return Document(doc_id, record.get("title", ""), record.get("text", ""))


@contextmanager
def _open_lines(path: Path) -> Iterator[Iterator[bytes]]:
    """The raw lines of a JSONL(.gz) file (each decoded by _parse_line, so that a bad byte has a line number);
    a .gz file that ends early or is damaged raises a one-line LexirError naming it."""
    handle: IO[bytes] = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    count = 0

    def lines() -> Iterator[bytes]:
        nonlocal count
        for count, line in enumerate(handle, start=1):  # noqa: B007 (count is read after an error)
            yield line

    try:
        with handle:
            yield lines()
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise LexirError(f"{path} is truncated or damaged: its gzip data {_gzip_problem(error)} after line "
                         f"{count:,}; copy or download it again") from None


def _gzip_problem(error: Exception) -> str:
    return "ends early" if isinstance(error, EOFError) else f"is corrupt ({error})"


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
