"""Local shards that are their bases alone are ranked in one kernel call (search/base_parts.py): the kernel keeps
the hits the per-shard lists merged would keep, in the same order, and the sharded search takes that path only when
it is exact, with the same hits as the general path otherwise."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lexir.encoders import create_encoder
from lexir.errors import IndexFormatError
from lexir.search import SearchOptions, open_search
from lexir.search.algorithms.dispatch import KernelQueries, top_k, top_k_parts, top_k_parts_rows
from lexir.search.algorithms.postings import PostingArrays
from lexir.search.sharded import ShardedIndex
from tests.unit.sharded_corpus import SHARDED_QUERIES, build_pair
from tests.unit.test_integrity import edit_manifest, rewrite_array
from tests.unit.test_pruning import CODES, Postings, prepared, random_documents
from tests.unit.test_sharded import listed


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only copy: an opened index's arrays are read-only, and numba compiles the kernels once per array
    type, so tests that pass the same types share the search path's compiled code instead of compiling their own."""
    frozen = np.array(array)
    frozen.flags.writeable = False
    return frozen


def part_arrays(documents) -> PostingArrays:
    """A part's postings as an opened index holds them (read-only arrays)."""
    arrays = Postings(documents, block_size=8).arrays
    return PostingArrays(*(read_only(one) if isinstance(one, np.ndarray) else one for one in arrays))


def merged_reference(parts, ordinals, code, terms, weights, k):
    """Each part's top k merged in Python: score descending, then ordinal ascending."""
    hits = []
    for number, (part, part_ordinals) in enumerate(zip(parts, ordinals)):
        docs, scores = top_k(code, part, terms, weights, k, 1.0, 16)
        hits += [(-score, int(part_ordinals[doc]), number, int(doc)) for doc, score in zip(docs, scores)]
    return sorted(hits)[:k]


@pytest.mark.parametrize("algorithm", sorted(CODES))
def test_the_kernel_keeps_the_best_k_of_every_part_by_score_then_ordinal(algorithm):
    rng = np.random.default_rng(7)
    for trial in range(12):
        num_parts = int(rng.integers(2, 5))
        documents = [random_documents(rng, int(rng.integers(5, 120)), 40, 0.2, levels=2) for _ in range(num_parts)]
        total = sum(part.shape[0] for part in documents)
        places = rng.permutation(total)  # the parts' documents interleaved in the whole collection
        ordinals, start = [], 0
        for part in documents:
            ordinals.append(read_only(np.sort(places[start:start + part.shape[0]]).astype(np.int64)))
            start += part.shape[0]
        parts = [part_arrays(part) for part in documents]
        terms, weights = prepared(sorted(rng.choice(40, size=4, replace=False)), rng.integers(1, 3, 4))
        for k in (1, 3, 10, total + 5):
            expected = merged_reference(parts, ordinals, CODES[algorithm], terms, weights, k)
            got = top_k_parts(CODES[algorithm], tuple(parts), tuple(ordinals), terms,
                              weights, k, 1.0, 16)
            assert [(-score, ordinal, part, doc) for part, doc, score, ordinal in zip(*(a.tolist() for a in got))
                    ] == expected, (trial, k)


def test_the_rows_kernel_ranks_each_query_as_the_one_query_kernel():
    rng = np.random.default_rng(11)
    documents = [random_documents(rng, size, 30, 0.25, levels=2) for size in (40, 70, 9)]
    parts = tuple(part_arrays(part) for part in documents)
    ordinals = tuple(read_only(np.arange(part.shape[0], dtype=np.int64) * 3 + offset)
                     for offset, part in enumerate(documents))
    rows = []
    for _ in range(25):
        terms = sorted(rng.choice(30, size=int(rng.integers(1, 6)), replace=False))
        rows.append(prepared(terms, rng.integers(1, 3, len(terms))))
    offsets = np.cumsum([0] + [len(terms) for terms, _ in rows]).astype(np.int64)
    queries = KernelQueries(offsets, np.concatenate([terms for terms, _ in rows]),
                            np.concatenate([weights for _, weights in rows]))
    for code in CODES.values():
        got = [np.full((25, 6), -1, dtype=np.int64), np.zeros((25, 6), dtype=np.int64), np.zeros((25, 6)),
               np.zeros((25, 6), dtype=np.int64)]
        counts = np.zeros(25, dtype=np.int64)
        top_k_parts_rows(code, parts, ordinals, queries, 0, 11, 6, 1.0, 16, *got, counts)
        top_k_parts_rows(code, parts, ordinals, queries, 11, 25, 6, 1.0, 16, *got, counts)
        for row, (terms, weights) in enumerate(rows):
            expected = top_k_parts(code, parts, ordinals, terms, weights, 6, 1.0, 16)
            assert [one.tolist() for one in expected] == [one[row, :counts[row]].tolist() for one in got], row


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return build_pair(tmp_path_factory.mktemp("parts"), lambda: create_encoder("bm25"), 3)


def test_base_only_shards_are_ranked_together_and_anything_else_the_general_way(pair, tmp_path):
    one, sharded = pair
    copy = tmp_path / "sharded"
    shutil.copytree(sharded, copy)
    index = ShardedIndex(copy)
    split, single = open_search(index), open_search(one)
    for query in SHARDED_QUERIES:
        assert listed(split.search(query, 7)) == listed(single.search(query, 7))
    assert [listed(one) for one in split.search_batch(SHARDED_QUERIES, 7)] == [
        listed(one) for one in single.search_batch(SHARDED_QUERIES, 7)]
    assert index.snapshot().base_parts is not None
    first = index.shards[0]
    victim = first.live.snapshot().base.docstore.all_ids()[0]
    index.delete([victim])  # a tombstone: that shard is no longer its base alone
    assert index.snapshot().base_parts is None
    hits = split.search("vitamin", 40).hits
    assert victim not in [hit.id for hit in hits] and hits
    cut = open_search(ShardedIndex(sharded), SearchOptions(query_cut=2))  # approximate: the per-shard path
    assert cut.search("heat flow blood", 5).hits


def test_a_damaged_shard_is_named_by_the_one_call(pair, tmp_path):
    _, sharded = pair
    copy = tmp_path / "sharded"
    shutil.copytree(sharded, copy)
    rewrite_array(copy / "shard-01" / "doc_blocks.npy", lambda words: words.__setitem__(slice(None), 0xFFFFFFFF))
    edit_manifest(copy / "shard-01", files=None)  # as in an index without checksums: only the kernels can notice
    index = ShardedIndex(copy)
    assert index.snapshot().base_parts is not None
    with pytest.raises(IndexFormatError, match="shard-01/doc_blocks.npy.*damaged"):
        open_search(index).search("heat flow in the blood", 5)
    with pytest.raises(IndexFormatError, match="shard-01/doc_blocks.npy.*damaged"):
        open_search(index).search_batch(["heat flow in the blood", "vitamin"], 5)
