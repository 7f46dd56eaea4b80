"""CIFF postings lists written from arrays (lexir/formats/ciff_wire.py) are byte for byte what protobuf writes
for the same PostingsList message, and protobuf's parser reads them back as that message."""

from __future__ import annotations

import io

import numpy as np
import pytest
from google.protobuf import proto

from lexir.errors import LexirError
from lexir.formats.ciff import ListArrays, PostingsList, _write_all, postings_list
from lexir.formats.ciff_wire import varint

rng = np.random.default_rng(3)
LARGE = np.sort(rng.choice(2**31 - 1, size=3000, replace=False))  # gaps of 1 to 5 varint bytes
CASES = {
    "empty list": ("empty", [], []),
    "first docid 0 (its gap field left out)": ("a", [0, 1, 2], [1, 127, 128]),
    "empty term (left out)": ("", [5], [3]),
    "non-ASCII term": ("über-ß", [1, 2**31 - 1], [255, 1]),
    "tf 0 (left out) and int32 extremes": ("zero", [0, 7], [0, 2**31 - 1]),
    "term over 127 bytes": ("t" * 300, [4, 9], [2, 2]),
    "3000 postings, message over 2^14 bytes": ("large", LARGE, rng.integers(1, 256, size=LARGE.size)),
}


def _framed(term, docids, tfs) -> bytes:
    out = io.BytesIO()
    assert _write_all([ListArrays(term, np.asarray(docids), np.asarray(tfs))], out) == 1
    return out.getvalue()


@pytest.mark.parametrize("case", list(CASES))
def test_array_postings_are_protobufs_bytes_and_parse_back(case):
    term, docids, tfs = CASES[case]
    message = postings_list(term, np.asarray(docids), np.asarray(tfs))
    expected = io.BytesIO()
    proto.serialize_length_prefixed(message, expected)
    written = _framed(term, docids, tfs)
    assert written == expected.getvalue()
    parsed = proto.parse_length_prefixed(PostingsList, io.BytesIO(written))
    assert parsed == message and parsed.term == term and len(parsed.postings) == len(docids)


def test_lists_written_one_after_another_reuse_the_buffer_and_stay_exact():
    out = io.BytesIO()
    lists = [ListArrays(term, np.asarray(docids), np.asarray(tfs)) for term, docids, tfs in CASES.values()]
    assert _write_all(reversed(lists), out) == len(lists)  # the large list first: later ones use a bigger buffer
    out.seek(0)
    for expected in reversed(lists):
        parsed = proto.parse_length_prefixed(PostingsList, out)
        assert parsed == postings_list(expected.term, expected.docids, expected.tfs)


def test_varint_matches_protobuf():
    for value in (0, 1, 127, 128, 300, 2**14, 2**31 - 1, 2**40):
        message = PostingsList(cf=value)
        assert message.SerializeToString() == (b"\x18" + varint(value) if value else b"")


@pytest.mark.parametrize(("docids", "tfs", "reason"), [
    ([3, 1], [1, 1], "strictly ascending"), ([-1, 4], [1, 1], "strictly ascending"),
    ([2**31], [1], "int32"), ([1], [-1], "int32"), ([1], [2**31], "int32"), ([1, 2], [1], "2 docids and 1 tfs")])
def test_postings_outside_the_fields_are_refused(docids, tfs, reason):
    with pytest.raises(LexirError, match=reason):
        _framed("bad", docids, tfs)
