"""CIFF export speed: postings per second written as protobuf messages (one Posting message per posting,
serialized by protobuf: the anchor) and as wire bytes a whole list at a time (lexir/formats/ciff_wire.py, what
`lexir index export --format ciff` writes), on the same decoded lists of a real index, in the same run, with the
bytes checked equal.

    python benchmarks/ciff_export.py INDEX [--postings 5000000]

Lists are taken in term order until --postings postings are gathered (decoding is outside the timings).
"""

from __future__ import annotations

import argparse
import io
import time

from google.protobuf import proto

from lexir.formats.ciff import ListArrays, _write_all, postings_list
from lexir.index import InvertedIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("--postings", type=int, default=5_000_000)
    args = parser.parse_args()
    index = InvertedIndex(args.index)
    vocabulary = [f"t{term}" for term in range(index.num_terms)]  # term strings do not change the per-posting work
    lists, total = [], 0
    for term in range(index.num_terms):
        docs, impacts = index.postings(term)
        if len(docs):
            lists.append(ListArrays(vocabulary[term], docs, impacts))
            total += len(docs)
        if total >= args.postings:
            break
    _write_all(lists[:1], io.BytesIO())  # compile the numba loop outside the timing

    started = time.perf_counter()
    anchor = io.BytesIO()
    for one in lists:
        proto.serialize_length_prefixed(postings_list(one.term, one.docids, one.tfs), anchor)
    message_seconds = time.perf_counter() - started

    started = time.perf_counter()
    wire = io.BytesIO()
    _write_all(lists, wire)
    wire_seconds = time.perf_counter() - started

    assert wire.getvalue() == anchor.getvalue(), "the wire bytes differ from protobuf's"
    print(f"{index.path}: {len(lists):,} lists, {total:,} postings, {len(wire.getvalue()):,} bytes (identical)")
    print(f"protobuf messages: {total / message_seconds / 1e6:.3f} M postings/s ({message_seconds:.2f} s)")
    print(f"wire bytes:        {total / wire_seconds / 1e6:.3f} M postings/s ({wire_seconds:.2f} s)")
    print(f"speed-up: {message_seconds / wire_seconds:.1f}x")


if __name__ == "__main__":
    main()
