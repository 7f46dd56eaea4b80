"""The block codec of format version 2 (index/codec.py) and its writer (index/postings.py): lists encode and decode
back exactly (empty lists, one posting, exact multiples of the block size, gaps near 2**31, the largest impacts),
the bounded-memory file writer writes what the in-memory encoder computes, bad input is refused, and damaged
blocks are reported, never read out of bounds."""

from __future__ import annotations

import numpy as np
import pytest

from lexir.errors import LexirError
from lexir.index.codec import WIDTH_BITS, decode_docs, decode_terms
from lexir.index.postings import POSTING_FILES, encode_postings, write_posting_files
from lexir.search.algorithms.postings import postings_from_arrays

MAX_DOC = 2**31 - 2  # the largest document number (num_docs is at most 2**31 - 1)


def lists_to_arrays(lists: list[tuple[list[int], list[int]]], dtype=np.uint8):
    offsets = np.concatenate([[0], np.cumsum([len(docs) for docs, _ in lists])]).astype(np.int64)
    doc_ids = np.array([d for docs, _ in lists for d in docs], dtype=np.int32)
    impacts = np.array([v for _, values in lists for v in values], dtype=dtype)
    return offsets, doc_ids, impacts


def round_trip(lists, block_size, num_docs, dtype=np.uint8):
    offsets, doc_ids, impacts = lists_to_arrays(lists, dtype)
    arrays = encode_postings(offsets, doc_ids, impacts, block_size)
    postings = postings_from_arrays({**arrays, "doc_nnz": None}, block_size, num_docs)
    docs, ok = decode_terms(postings, 0, len(lists))
    assert ok
    np.testing.assert_array_equal(docs, doc_ids)
    np.testing.assert_array_equal(arrays["impacts"], impacts)
    for term, (term_docs, _) in enumerate(lists):  # one list at a time, as InvertedIndex.postings does
        one_docs, ok = decode_terms(postings, term, term + 1)
        assert ok and one_docs.tolist() == list(term_docs)
    block_starts = [offsets[t] + i * block_size for t in range(len(lists)) for i in range(
        -(-(offsets[t + 1] - offsets[t]) // block_size))]
    assert arrays["block_max"].tolist() == [impacts[start:min(start + block_size, offsets[np.searchsorted(
        offsets, start, side="right")])].max() for start in block_starts]
    first_blocks = arrays["block_offsets"][:-1]
    assert arrays["term_max"].tolist() == [max(values, default=0) for _, values in lists]
    assert all(arrays["block_last_doc"][b] == docs_[min(block_size, len(docs_)) - 1]
               for b, (docs_, _) in zip(first_blocks, lists) if docs_)
    return arrays


def random_list(rng, num_docs, length, top=255):
    docs = np.sort(rng.choice(num_docs, size=length, replace=False))
    return docs.tolist(), rng.integers(1, top + 1, size=length).tolist()


@pytest.mark.parametrize("block_size", [1, 2, 5, 64, 128])
def test_random_lists_round_trip(block_size):
    rng = np.random.default_rng(block_size)
    num_docs = 5000
    lengths = [0, 1, block_size, 2 * block_size, block_size + 1, 3 * block_size - 1, 700, 0, 4999]
    lists = [random_list(rng, num_docs, length) for length in lengths]
    round_trip(lists, block_size, num_docs)


def test_edge_cases_round_trip():
    lists = [
        ([], []),                                              # an empty list
        ([7], [1]),                                            # one posting, the smallest impact
        ([0], [255]),                                          # document 0, the largest 8-bit impact
        ([MAX_DOC], [3]),                                      # the largest document: a 31-bit gap from -1
        ([0, MAX_DOC], [1, 255]),                              # a gap of 2**31 - 3
        (list(range(64)), [1] * 64),                           # consecutive documents: 0-bit gaps
        (list(range(0, 128 * 3, 3)), [255] * 128),             # exactly two blocks
        (list(range(MAX_DOC - 129, MAX_DOC + 1)), list(range(1, 131))),  # the top of the range, 130 postings
    ]
    arrays = round_trip(lists, 64, MAX_DOC + 1)
    blocks = arrays["block_words"]
    consecutive = int(arrays["block_offsets"][5])
    assert blocks[consecutive + 1] - blocks[consecutive] == 1  # the width alone: WIDTH_BITS bits, in one word
    widest = int(arrays["block_offsets"][4])  # [0, MAX_DOC]: two 31-bit gaps
    assert blocks[widest + 1] - blocks[widest] == (WIDTH_BITS + 2 * 31 + 31) // 32


def test_sixteen_bit_impacts_round_trip():
    rng = np.random.default_rng(16)
    lists = [random_list(rng, 3000, n, top=65535) for n in (1, 63, 64, 65, 1000)] + [([5, 9], [65535, 65535])]
    arrays = round_trip(lists, 64, 3000, dtype=np.uint16)
    assert arrays["block_max"].dtype == np.uint16 and arrays["block_max"].max() == 65535


def test_the_file_writer_writes_what_the_encoder_computes_a_piece_at_a_time(tmp_path):
    """Pieces of 50 postings: lists spread over many pieces, and one list (700) longer than a piece."""
    rng = np.random.default_rng(5)
    lists = [random_list(rng, 2000, n) for n in (3, 0, 700, 64, 1, 49, 50, 51, 128, 10)]
    offsets, doc_ids, impacts = lists_to_arrays(lists)
    np.save(tmp_path / "in_docs.npy", doc_ids)
    np.save(tmp_path / "in_impacts.npy", impacts)
    write_posting_files(tmp_path, offsets, np.load(tmp_path / "in_docs.npy", mmap_mode="r"),
                        np.load(tmp_path / "in_impacts.npy", mmap_mode="r"), 64, piece_postings=50)
    expected = encode_postings(offsets, doc_ids, impacts, 64)
    assert set(expected) == set(POSTING_FILES)
    for name in POSTING_FILES:
        written = np.load(tmp_path / f"{name}.npy")
        assert written.dtype == expected[name].dtype, name
        np.testing.assert_array_equal(written, expected[name], err_msg=name)
    assert expected["doc_blocks"][-1] == 0 and expected["block_words"][-1] == expected["doc_blocks"].shape[0] - 1


@pytest.mark.parametrize(("docs", "values"), [
    ([3, 3], [1, 1]),        # not strictly ascending
    ([5, 2], [1, 1]),        # descending
    ([-1, 2], [1, 1]),       # negative
    ([1, 2], [1, 0]),        # an impact of 0
])
def test_bad_lists_are_refused_naming_the_term(docs, values):
    offsets, doc_ids, impacts = lists_to_arrays([([1], [1]), (docs, values)])
    with pytest.raises(LexirError, match="term 1"):
        encode_postings(offsets, doc_ids, impacts, 64)


def test_inconsistent_offsets_are_refused():
    with pytest.raises(LexirError, match="offsets"):
        encode_postings(np.array([0, 3], dtype=np.int64), np.arange(2, dtype=np.int32), np.ones(2, np.uint8), 64)


def damaged(arrays, name, change):
    copy = {key: value.copy() for key, value in arrays.items()}
    change(copy[name])
    return postings_from_arrays({**copy, "doc_nnz": None}, 64, 1000)


@pytest.mark.parametrize(("name", "change"), [
    ("block_last_doc", lambda a: a.__setitem__(0, a[0] + 1)),          # the last document disagrees
    ("block_last_doc", lambda a: a.__setitem__(0, -7)),                # a negative previous document (block 1)
    ("block_words", lambda a: a.__setitem__(1, 10**9)),                # a word range past the end
    ("block_words", lambda a: a.__setitem__(1, -5)),                   # a negative word offset
    ("block_words", lambda a: a.__setitem__(1, a[0])),                 # an empty range
    ("doc_blocks", lambda a: a.__setitem__(0, a[0] | 31)),               # a 31-bit gap width: bits beyond the block
    ("doc_blocks", lambda a: a.__setitem__(slice(None), 0xFFFFFFFF)),    # every bit set
])
def test_damaged_blocks_are_reported_never_read_out_of_bounds(name, change):
    rng = np.random.default_rng(9)
    docs, values = random_list(rng, 1000, 200)
    offsets, doc_ids, impacts = lists_to_arrays([(docs, values)])
    postings = damaged(encode_postings(offsets, doc_ids, impacts, 64), name, change)
    out_docs = np.empty(64, np.int32)
    results = [decode_docs(postings.doc_blocks, postings.block_words, postings.block_last_doc, 1000, block,
                           min(64, 200 - 64 * block), -1 if block == 0 else int(postings.block_last_doc[block - 1]),
                           out_docs) for block in range(4)]
    assert not all(results)
    assert not decode_terms(postings, 0, 1)[1]


def test_an_index_without_postings_is_written_and_decodes(tmp_path):
    """A live segment whose documents have empty vectors: no blocks, doc_blocks.npy holds only the spare word."""
    write_posting_files(tmp_path, np.zeros(4, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint8), 64)
    arrays = {name: np.load(tmp_path / f"{name}.npy") for name in POSTING_FILES}
    assert arrays["doc_blocks"].tolist() == [0] and arrays["block_words"].tolist() == [0]
    postings = postings_from_arrays({**arrays, "doc_nnz": None}, 64, 5)
    docs, ok = decode_terms(postings, 0, 3)
    assert ok and docs.size == 0
