"""CIFF, the Common Index File Format (osirrc/ciff): read and write primitives.

A CIFF file is one stream of varint-length-delimited protobuf messages: a Header, then exactly
`num_postings_lists` PostingsList messages (term, df, cf, postings of {docid, tf} with docids stored as gaps
from the previous posting, the first from 0), then exactly `num_doc_records` DocRecord messages (docid,
collection_docid, doclength). The messages are defined here from the published schema
(`CommonIndexFileFormat.proto`, package io.osirrc.ciff) through protobuf's descriptor API, and framed with
protobuf's own length-prefixed reader and writer; there is no hand-written wire parser. Postings lists given as
arrays (ListArrays) are written as the bytes protobuf would write for them, a whole list at once (ciff_wire.py).

Files whose name ends in .gz are read and written gzipped. A file that ends early or does not parse stops
the read with one line naming the file and the message.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, proto
from google.protobuf.message import DecodeError

from lexir.errors import LexirError
from lexir.files import atomic_write, gzipped_if_named
from lexir.formats.ciff_wire import INT32_LIMIT, PostingsListWriter

PACKAGE = "io.osirrc.ciff"
_FIELD = descriptor_pb2.FieldDescriptorProto
# (message, [(field, number, type, repeated message type or None)]), as in CommonIndexFileFormat.proto
_SCHEMA: list[tuple[str, list[tuple[str, int, int, str | None]]]] = [
    ("Header", [("version", 1, _FIELD.TYPE_INT32, None), ("num_postings_lists", 2, _FIELD.TYPE_INT32, None),
                ("num_doc_records", 3, _FIELD.TYPE_INT32, None), ("total_postings_lists", 4, _FIELD.TYPE_INT32, None),
                ("total_docs", 5, _FIELD.TYPE_INT32, None), ("total_terms_in_collection", 6, _FIELD.TYPE_INT64, None),
                ("average_doclength", 7, _FIELD.TYPE_DOUBLE, None), ("description", 8, _FIELD.TYPE_STRING, None)]),
    ("Posting", [("docid", 1, _FIELD.TYPE_INT32, None), ("tf", 2, _FIELD.TYPE_INT32, None)]),
    ("PostingsList", [("term", 1, _FIELD.TYPE_STRING, None), ("df", 2, _FIELD.TYPE_INT64, None),
                      ("cf", 3, _FIELD.TYPE_INT64, None), ("postings", 4, _FIELD.TYPE_MESSAGE, "Posting")]),
    ("DocRecord", [("docid", 1, _FIELD.TYPE_INT32, None), ("collection_docid", 2, _FIELD.TYPE_STRING, None),
                   ("doclength", 3, _FIELD.TYPE_INT32, None)]),
]


def _message_classes() -> dict[str, Any]:
    """The four CIFF message classes, built in a private descriptor pool (so they never clash with another
    definition of the same package loaded in this process)."""
    file = descriptor_pb2.FileDescriptorProto(name="lexir/CommonIndexFileFormat.proto", package=PACKAGE,
                                              syntax="proto3")
    for name, fields in _SCHEMA:
        message = file.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            label = _FIELD.LABEL_REPEATED if type_name else _FIELD.LABEL_OPTIONAL
            message.field.add(name=field_name, number=number, type=kind, label=label,
                              type_name=f".{PACKAGE}.{type_name}" if type_name else None)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name, _ in _SCHEMA}


_CLASSES = _message_classes()
Header = _CLASSES["Header"]
Posting = _CLASSES["Posting"]
PostingsList = _CLASSES["PostingsList"]
DocRecord = _CLASSES["DocRecord"]


@dataclass(frozen=True)
class ListArrays:
    """A postings list given as arrays (ascending `docids`, their `tfs`): `write_ciff` writes it as the bytes of
    its PostingsList message without building one message per posting (ciff_wire.py)."""

    term: str
    docids: np.ndarray
    tfs: np.ndarray


def postings_list(term: str, docids: np.ndarray, tfs: np.ndarray) -> Any:
    """A PostingsList message for ascending `docids` (stored as gaps) and their `tfs`; df and cf from them."""
    gaps, tfs = _checked(term, docids, tfs)
    message = PostingsList(term=term, df=int(gaps.size), cf=int(tfs.sum()))
    message.postings.extend(Posting(docid=int(gap), tf=int(tf)) for gap, tf in zip(gaps.tolist(), tfs.tolist()))
    return message


def _checked(term: str, docids: np.ndarray, tfs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(docid gaps, tfs) as int64, once docids ascend strictly from >= 0 and both fit the int32 fields."""
    docids = np.asarray(docids, dtype=np.int64)
    tfs = np.asarray(tfs, dtype=np.int64)
    gaps = np.diff(docids, prepend=0)
    if gaps.size and (gaps[0] < 0 or (gaps[1:] <= 0).any()):
        raise LexirError(f"the postings of {term!r} must have strictly ascending, non-negative docids")
    if gaps.size != tfs.size:
        raise LexirError(f"the postings of {term!r} have {gaps.size:,} docids and {tfs.size:,} tfs")
    if (docids.size and docids[-1] >= INT32_LIMIT) or (tfs.size and (tfs.min() < 0 or tfs.max() >= INT32_LIMIT)):
        raise LexirError(f"the postings of {term!r} hold a docid or tf outside CIFF's int32 range [0, 2^31)")
    return gaps, tfs


def decoded_postings(message: Any) -> tuple[np.ndarray, np.ndarray]:
    """(docids, tfs) of a PostingsList message, docids restored from their gaps (int64 arrays)."""
    count = len(message.postings)
    gaps = np.fromiter((posting.docid for posting in message.postings), dtype=np.int64, count=count)
    tfs = np.fromiter((posting.tf for posting in message.postings), dtype=np.int64, count=count)
    return np.cumsum(gaps), tfs


def write_ciff(path: Path | str, header: Any, postings_lists: Iterable[Any | ListArrays],
               doc_records: Iterable[Any]) -> None:
    """Write a CIFF file atomically: `header`, then the postings lists (PostingsList messages, or ListArrays
    written as the same bytes), then the doc records; the header's counts must equal what follows (checked as
    they are written: a mismatch leaves no file)."""
    path = Path(path)
    with atomic_write(path) as raw:
        handle = gzipped_if_named(path, raw)
        try:
            proto.serialize_length_prefixed(header, handle)
            written_lists = _write_all(postings_lists, handle)
            written_records = _write_all(doc_records, handle)
        finally:
            if handle is not raw:
                handle.close()
        if (written_lists, written_records) != (header.num_postings_lists, header.num_doc_records):
            raise LexirError(f"CIFF header counts {header.num_postings_lists:,} postings lists and "
                             f"{header.num_doc_records:,} doc records, but {written_lists:,} and {written_records:,} "
                             "were given")


def _write_all(messages: Iterable[Any | ListArrays], handle: IO[bytes]) -> int:
    count, lists = 0, PostingsListWriter()
    for message in messages:
        if isinstance(message, ListArrays):
            for part in lists.framed(message.term, *_checked(message.term, message.docids, message.tfs)):
                handle.write(part)
        else:
            proto.serialize_length_prefixed(message, handle)
        count += 1
    return count


class CiffReader:
    """Reads one CIFF file in order: `header` (read on opening), then `postings_lists()`, then `doc_records()`.

    Use as a context manager; each iterator must be run to its end before the next one starts.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise LexirError(f"{self.path} is not a file")
        self._handle: IO[bytes] = gzip.open(self.path, "rb") if self.path.suffix == ".gz" else open(self.path, "rb")
        self._position = 0  # messages read so far, for error messages
        try:
            self.header = self._read(Header, "the header")
        except BaseException:
            self._handle.close()
            raise
        if self.header.num_postings_lists < 0 or self.header.num_doc_records < 0:
            self._handle.close()
            raise LexirError(f"{self.path} is not a CIFF file: its header counts {self.header.num_postings_lists} "
                             f"postings lists and {self.header.num_doc_records} doc records")

    def __enter__(self) -> CiffReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def postings_lists(self) -> Iterator[Any]:
        for number in range(1, self.header.num_postings_lists + 1):
            yield self._read(PostingsList, f"postings list {number:,} of {self.header.num_postings_lists:,}")

    def doc_records(self) -> Iterator[Any]:
        for number in range(1, self.header.num_doc_records + 1):
            yield self._read(DocRecord, f"doc record {number:,} of {self.header.num_doc_records:,}")

    def _read(self, message_class: Any, what: str) -> Any:
        with self._reading(what):
            message = proto.parse_length_prefixed(message_class, self._handle)
        if message is None:
            raise LexirError(f"{self.path} ends before {what} (the file is truncated; copy or export it again)")
        return message

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        try:
            yield
        except (DecodeError, ValueError, EOFError, OSError) as error:
            raise LexirError(f"{self.path}: {what} cannot be read ({error}); the file is truncated or not CIFF"
                             ) from None
