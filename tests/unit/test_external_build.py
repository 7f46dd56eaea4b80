"""The external-memory build: runs of chunks inverted into raw files, then the posting files written piece by piece,
give exactly the arrays (and .npy bytes) of the old in-memory inversion, encoded (format 2, codec.py: tested on its
own in test_codec.py), whatever the memory limit."""

from __future__ import annotations

import json
import os
import sqlite3

import numpy as np
import pytest
import scipy.sparse as sp

import lexir.index.assembly as assembly
from lexir.corpus import Corpus, Document
from lexir.encoders import create_encoder
from lexir.errors import LexirError
from lexir.index import InvertedIndex, build_index
from lexir.index.assembly import MemoryPlan, count_chunks, invert_chunks
from lexir.index.builder import staging_folder
from lexir.index.docstore import DocStore
from lexir.index.format import ARRAY_NAMES
from lexir.index.postings import encode_postings, term_pieces, write_posting_files
from lexir.index.quantize import Quantizer
from lexir.sizes import parse_size
from tests.helpers import assert_one_line_error, lexir, write_jsonl
from tests.texts import DOCUMENTS

COPIES = [(f"{doc_id}-{copy}", title, text) for copy in range(20) for doc_id, title, text in DOCUMENTS]


def reference_arrays(vectors: sp.csr_matrix, quantizer: Quantizer, block_size: int) -> dict[str, np.ndarray]:
    """The old in-memory inversion (one CSR matrix of every document, converted to CSC), with the maxima counted
    by plain loops, and its lists encoded in memory: what the external build must reproduce exactly."""
    vectors = sp.csr_matrix(vectors, dtype=np.float32, copy=True)
    vectors.eliminate_zeros()
    quantized = sp.csr_matrix((quantizer.quantize(vectors.data), vectors.indices, vectors.indptr), shape=vectors.shape)
    by_term = quantized.tocsc()
    by_term.sort_indices()
    offsets, doc_ids, impacts = by_term.indptr.astype(np.int64), by_term.indices.astype(np.int32), by_term.data
    term_max, block_offsets, block_max, block_last_doc = [], [0], [], []
    for term in range(vectors.shape[1]):
        docs, values = doc_ids[offsets[term]:offsets[term + 1]], impacts[offsets[term]:offsets[term + 1]]
        term_max.append(values.max() if values.size else 0)
        for first in range(0, values.size, block_size):
            block_max.append(values[first:first + block_size].max())
            block_last_doc.append(docs[first:first + block_size][-1])
        block_offsets.append(len(block_max))
    dtype = quantizer.dtype
    plain = {"offsets": offsets, "impacts": impacts, "term_max": np.array(term_max, dtype),
             "block_offsets": np.array(block_offsets, np.int64), "block_max": np.array(block_max, dtype),
             "block_last_doc": np.array(block_last_doc, np.int32), "doc_freq": np.diff(offsets),
             "doc_nnz": np.diff(vectors.indptr).astype(np.int32)}
    encoded = encode_postings(offsets, doc_ids, impacts, block_size)
    for name in plain.keys() & encoded.keys():  # the encoder's maxima are the loops' (and then its blocks are used)
        np.testing.assert_array_equal(encoded[name], plain[name], err_msg=name)
    return {**encoded, **plain}


def random_chunks(seed: int, count: int, rows: int, terms: int) -> list[sp.csr_matrix]:
    """Chunks of random vectors with empty documents, explicit zero weights and a few very long lists."""
    rng = np.random.default_rng(seed)
    chunks = []
    for _ in range(count):
        chunk = sp.random(rows, terms, density=0.08, format="lil", dtype=np.float32, random_state=rng)
        chunk[:, :3] = rng.random((rows, 3)).astype(np.float32) + 0.01  # three terms in every document
        chunk[rng.integers(rows), :] = 0  # an empty document
        chunk = chunk.tocsr()
        chunk.data[rng.random(chunk.nnz) < 0.05] = 0.0  # explicit zeros: no postings
        chunks.append(chunk)
    return chunks


def assemble(tmp_path, chunks, quantizer, limit, block_size, piece_postings):
    """Chunk files -> pass 1 -> pass 2 under `limit` -> posting files: the arrays written, and the plan."""
    (tmp_path / "chunks").mkdir()
    paths = []
    for number, chunk in enumerate(chunks):
        paths.append(tmp_path / "chunks" / f"{number:06d}.npz")
        sp.save_npz(paths[-1], chunk, compressed=False)
    raw = assembly.fresh_folder(tmp_path / "postings")
    counts = count_chunks(paths, raw, progress=False)
    plan = MemoryPlan.fit(limit, counts, quantizer.dtype.itemsize)
    postings = invert_chunks(paths, counts, quantizer, plan, raw, progress=False)
    out = tmp_path / "out"
    out.mkdir()
    write_posting_files(out, postings.offsets, postings.doc_ids, postings.impacts, block_size,
                        piece_postings=piece_postings)
    arrays = {name: np.load(out / f"{name}.npy") for name in ARRAY_NAMES if name != "doc_nnz"}
    return {**arrays, "doc_nnz": np.array(postings.doc_nnz)}, plan, counts


@pytest.mark.parametrize("bits", [8, 16])
def test_runs_and_pieces_give_the_arrays_of_the_in_memory_inversion(tmp_path, bits):
    chunks = random_chunks(seed=bits, count=9, rows=37, terms=60)
    everything = sp.vstack(chunks, format="csr")
    quantizer = Quantizer.fit(float(everything.data.max()), bits)
    expected = reference_arrays(everything, quantizer, block_size=4)
    largest = max(chunk.nnz for chunk in chunks)
    # room for about two chunks a run: the limit's fixed part plus two chunks' postings
    limit = (assembly.TERM_BYTES * 60 + assembly.CHUNK_BYTES_PER_POSTING * largest
             + 2 * (2 * (4 + bits // 8) * largest + assembly.RUN_DOC_BYTES * 37))
    arrays, plan, counts = assemble(tmp_path, chunks, quantizer, limit, block_size=4, piece_postings=10)
    assert len(plan.runs(counts)) >= 4, "the limit did not force several runs; the test proves little"
    assert counts.term_postings[:3].min() > 10, "no list is longer than a piece; whole long lists are untested"
    assert set(arrays) == set(expected)
    for name, values in expected.items():
        assert arrays[name].dtype == values.dtype, name
        np.testing.assert_array_equal(arrays[name], values, err_msg=name)


def test_pieces_cover_every_list_once_whole_and_hold_at_most_the_limit_or_one_long_list():
    offsets = np.array([0, 3, 3, 40, 41, 45, 45, 100], dtype=np.int64)
    pieces = list(term_pieces(offsets, limit=10))
    assert pieces[0][0] == 0 and pieces[-1][1] == 7
    assert [first for first, _ in pieces[1:]] == [last for _, last in pieces[:-1]]
    for first, last in pieces:
        assert offsets[last] - offsets[first] <= 10 or last == first + 1  # a list longer than the limit: alone
    assert (2, 3) in pieces and (6, 7) in pieces


def test_a_huge_limit_keeps_every_run_below_scipys_32_bit_indices():
    postings = np.array([2**30, 2**30 - 1, 5, 2**30, 2**30], dtype=np.int64)  # counts alone: no data is made
    counts = assembly.ChunkCounts(np.full(5, 1000, dtype=np.int64), postings, np.zeros(7, np.int64), 1.0)
    runs = MemoryPlan.fit(2**50, counts, 1).runs(counts)
    assert runs == [range(0, 2), range(2, 4), range(4, 5)]
    assert all(postings[run.start:run.stop].sum() < 2**31 for run in runs)


def bm25_build(tmp_path, name, **options):
    encoder = create_encoder("bm25")
    corpus = Corpus(str(write_jsonl(tmp_path / "docs.jsonl", COPIES)))
    build_index(corpus, encoder, tmp_path / name, chunk_size=8, progress=False, **options)
    return encoder, InvertedIndex(tmp_path / name)


def small_limit(index: InvertedIndex, chunk_size: int = 8) -> int:
    """A limit that holds about two chunks of `index`'s corpus a run."""
    nnz = np.asarray(index.doc_nnz)
    largest = max(int(nnz[first:first + chunk_size].sum()) for first in range(0, nnz.size, chunk_size))
    return (assembly.TERM_BYTES * index.num_terms + assembly.CHUNK_BYTES_PER_POSTING * largest
            + 2 * (10 * largest + assembly.RUN_DOC_BYTES * chunk_size))


def test_a_build_under_a_small_limit_writes_the_old_paths_files_byte_for_byte(tmp_path):
    encoder, whole = bm25_build(tmp_path, "whole")
    _, runs = bm25_build(tmp_path, "runs", memory_limit=small_limit(whole))
    assert whole.manifest.extra["build"]["assembly"]["runs"] == 1
    assert runs.manifest.extra["build"]["assembly"]["runs"] >= 8
    vectors = encoder.encode_documents([document.contents for document in Corpus(str(tmp_path / "docs.jsonl"))])
    expected = reference_arrays(vectors, whole.quantizer, whole.manifest.block_size)
    (tmp_path / "expected").mkdir()
    for name, values in expected.items():
        np.save(tmp_path / "expected" / f"{name}.npy", values)
        reference = (tmp_path / "expected" / f"{name}.npy").read_bytes()
        assert (whole.path / f"{name}.npy").read_bytes() == reference, name
        assert (runs.path / f"{name}.npy").read_bytes() == reference, name
    assert runs.docstore.all_ids() == [doc_id for doc_id, _, _ in COPIES]


def test_a_limit_below_one_chunk_is_a_clear_error_and_a_larger_one_resumes(tmp_path):
    corpus = Corpus(str(write_jsonl(tmp_path / "docs.jsonl", COPIES)))
    with pytest.raises(LexirError, match=r"memory limit 1\.0 KiB is below what inverting one chunk takes.*"
                                         r"--chunk-size.*--resume"):
        build_index(corpus, create_encoder("bm25"), tmp_path / "index", chunk_size=8, progress=False,
                    memory_limit=1024)
    assert not (tmp_path / "index").exists()
    report = build_index(corpus, create_encoder("bm25"), tmp_path / "index", chunk_size=8, progress=False,
                         resume=True)
    assert report.resumed_chunks == len(COPIES) // 8 and report.num_docs == len(COPIES)


def test_a_build_interrupted_in_pass_2_resumes_to_the_same_index(tmp_path, monkeypatch):
    _, fresh = bm25_build(tmp_path, "fresh")
    limit = small_limit(fresh)
    written = []
    real_write_run = assembly._write_run

    def write_two_runs_then_die(*args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt  # as a kill would: nothing is cleaned up
        written.append(real_write_run(*args, **kwargs))

    monkeypatch.setattr(assembly, "_write_run", write_two_runs_then_die)
    with pytest.raises(KeyboardInterrupt):
        bm25_build(tmp_path, "index", memory_limit=limit)
    staging = staging_folder(tmp_path / "index")
    assert (staging / "postings" / "doc_ids.raw").is_file() and not (tmp_path / "index").exists()
    monkeypatch.setattr(assembly, "_write_run", real_write_run)
    encoder = create_encoder("bm25")
    report = build_index(Corpus(str(tmp_path / "docs.jsonl")), encoder, tmp_path / "index", chunk_size=8,
                         progress=False, resume=True, memory_limit=limit)
    assert report.resumed_chunks == len(COPIES) // 8 and not staging.exists()
    resumed = InvertedIndex(tmp_path / "index")
    for name in ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(fresh, name), err_msg=name)


def test_memory_limit_on_the_command_line(tmp_path):
    source = write_jsonl(tmp_path / "docs.jsonl", COPIES)
    common = ("index", "build", source, "--encoder", "bm25", "--chunk-size", "8", "--quiet")
    assert_one_line_error(lexir(*common, "--out", tmp_path / "a", "--memory-limit", "lots", check=False),
                          "--memory-limit", "'lots'")
    assert_one_line_error(lexir(*common, "--out", tmp_path / "b", "--memory-limit", "2KiB", check=False),
                          "below what inverting one chunk takes")
    lexir(*common, "--out", tmp_path / "c", "--memory-limit", "64MiB")
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["extra"]["build"]["assembly"] == {"memory_limit": 64 * 2**20, "runs": 1}


@pytest.mark.parametrize(("text", "size"), [("2GiB", 2 * 2**30), ("512 MiB", 512 * 2**20), ("1.5G", 3 * 2**29),
                                            ("3000000000", 3_000_000_000), ("2GB", 2 * 10**9), ("64k", 65536)])
def test_sizes_are_read_as_people_write_them(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "2 GiBs", "-1G", "1e9"])
def test_unreadable_sizes_are_a_clear_error(text):
    with pytest.raises(LexirError, match="cannot read .* as a size"):
        parse_size(text, "--memory-limit")


def test_empty_titles_and_texts_are_stored_as_null_and_read_as_empty(tmp_path):
    store = DocStore(tmp_path / "docs.sqlite")
    store.write(0, [Document("a", "", ""), Document("b", "Title", "text")])
    store.finish()
    store.close()
    with sqlite3.connect(tmp_path / "docs.sqlite") as db:
        assert db.execute("SELECT title IS NULL, text IS NULL FROM docs ORDER BY num").fetchall() == [(1, 1), (0, 0)]
    reader = DocStore(tmp_path / "docs.sqlite", readonly=True)
    assert [(doc.title, doc.text) for doc in reader.documents([0, 1])] == [("", ""), ("Title", "text")]
    reader.close()


def test_a_resumed_build_never_writes_through_a_link_to_its_document_store(tmp_path):
    """A build killed after its index was swapped in, before its staging folder was removed, leaves the index's
    docs.sqlite and the staging folder's as one file (the store is hard-linked, not copied): a resume must
    write to a copy of its own."""
    corpus = Corpus(str(write_jsonl(tmp_path / "docs.jsonl", COPIES)))
    with pytest.raises(LexirError, match="memory limit"):
        build_index(corpus, create_encoder("bm25"), tmp_path / "index", chunk_size=8, progress=False,
                    memory_limit=1024)
    os.link(staging_folder(tmp_path / "index") / "docs.sqlite", tmp_path / "finished.sqlite")
    before = (tmp_path / "finished.sqlite").read_bytes()
    build_index(corpus, create_encoder("bm25"), tmp_path / "index", chunk_size=8, progress=False, resume=True)
    assert (tmp_path / "finished.sqlite").stat().st_nlink == 1
    assert (tmp_path / "finished.sqlite").read_bytes() == before
    assert (tmp_path / "index" / "docs.sqlite").stat().st_nlink == 1  # linked from staging, which is gone
    assert InvertedIndex(tmp_path / "index").docstore.all_ids() == [doc_id for doc_id, _, _ in COPIES]
