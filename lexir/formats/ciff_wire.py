"""A CIFF PostingsList as protobuf wire bytes, written a whole list at a time.

Building one `Posting` message per posting costs some microseconds each (hours for the billion postings of an MS
MARCO index), so the export writes the bytes protobuf itself would write for the same message, from the
published schema (lexir/formats/ciff.py) and protobuf's wire format: a message is its set fields in field-number
order, each a tag byte (field number << 3 | wire type) then a base-128 varint, or for a string or sub-message its
length as a varint then its bytes; proto3 leaves fields that hold zero out. A list's postings are encoded by one
numba loop. tests/unit/test_ciff_wire.py checks the bytes against protobuf's own serializer and parser.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lexir.jit import CACHE

_TERM, _DF, _CF, _POSTINGS = 0x0A, 0x10, 0x18, 0x22  # PostingsList: 1 term (string), 2 df, 3 cf, 4 postings
_DOCID, _TF = 0x08, 0x10  # Posting: 1 docid (int32 gap), 2 tf (int32)
_POSTING_BYTES = 12  # at most: a tag and a 5-byte varint for each of the two int32 fields, (never > 127)
INT32_LIMIT = 1 << 31


def varint(value: int) -> bytes:
    """The base-128 varint of a non-negative integer: 7 bits a byte, lowest first, high bit set on all but the
    last byte."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, value: int) -> bytes:
    return bytes((tag,)) + varint(value) if value else b""


class PostingsListWriter:
    """Frames PostingsList messages for a length-delimited stream, reusing one buffer for the postings."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, dtype=np.uint8)

    def framed(self, term: str, gaps: np.ndarray, tfs: np.ndarray) -> tuple[bytes, memoryview]:
        """(the varint length prefix and the message's fields before its postings, the postings' bytes) of the
        PostingsList of `term` with docid gaps `gaps` and `tfs` (integers in [0, 2^31): the caller checks), as
        protobuf's serialize_length_prefixed writes it. The second part is a view of this writer's buffer: write
        it before the next call."""
        gaps = np.asarray(gaps, dtype=np.int64)
        tfs = np.asarray(tfs, dtype=np.int64)
        term_bytes = term.encode("utf-8")
        head = (bytes((_TERM,)) + varint(len(term_bytes)) + term_bytes if term_bytes else b"") + \
            _field(_DF, len(gaps)) + _field(_CF, int(tfs.sum()))
        needed = (_POSTING_BYTES + 2) * len(gaps)
        if len(self._buffer) < needed:
            self._buffer = np.empty(max(needed, 2 * len(self._buffer)), dtype=np.uint8)
        size = _encode_postings(gaps, tfs, self._buffer)
        return varint(len(head) + size) + head, memoryview(self._buffer)[:size]


@njit(cache=CACHE, nogil=True, inline="always")
def _varint_size(value: int) -> int:
    size = 1
    while value > 0x7F:
        value >>= 7
        size += 1
    return size


@njit(cache=CACHE, nogil=True, inline="always")
def _put_varint(out: np.ndarray, position: int, value: int) -> int:
    while value > 0x7F:
        out[position] = (value & 0x7F) | 0x80
        value >>= 7
        position += 1
    out[position] = value
    return position + 1


@njit(cache=CACHE, nogil=True)
def _encode_postings(gaps: np.ndarray, tfs: np.ndarray, out: np.ndarray) -> int:
    """Write field 4 (a length-delimited Posting {docid gap, tf}) for every posting into `out`; returns the bytes
    written."""
    position = 0
    for i in range(len(gaps)):
        gap, tf = gaps[i], tfs[i]
        size = 0
        if gap:
            size += 1 + _varint_size(gap)
        if tf:
            size += 1 + _varint_size(tf)
        out[position] = _POSTINGS
        out[position + 1] = size
        position += 2
        if gap:
            out[position] = _DOCID
            position = _put_varint(out, position + 1, gap)
        if tf:
            out[position] = _TF
            position = _put_varint(out, position + 1, tf)
    return position
