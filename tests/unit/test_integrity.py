"""Damaged indexes (issue #16, item 3): every corruption is a one-line error naming the file, never a crash.

Each test damages a copy of a small BM25 index built here (a truncated file, flipped bytes, document numbers
out of range, a manifest with impossible numbers) and runs the command line on it: `index info`, `search`,
`serve` and `eval` refuse it in one line with exit status 1, and `index check` names the damaged file. A
crash (segfault) would kill pytest itself, so the cases that crashed before run in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lexir.errors import IndexFormatError
from tests.helpers import CliResult, assert_one_line_error, lexir, write_beir_folder, write_jsonl

LEXIR = [sys.executable, "-m", "lexir"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("integrity")
    lexir("index", "build", write_jsonl(folder / "docs.jsonl"), "--encoder", "bm25", "--out", folder / "index",
          "--quiet")
    return folder / "index"


@pytest.fixture
def index(built, tmp_path) -> Path:
    """A fresh copy to damage."""
    return Path(shutil.copytree(built, tmp_path / "index"))


def run(*args: object) -> CliResult:
    """`lexir ARGS` in a new interpreter: a crash is an exit status here, not the end of the test run."""
    done = subprocess.run([*LEXIR, *map(str, args)], capture_output=True, text=True, timeout=120)
    return CliResult(tuple(map(str, args)), done.returncode, done.stdout, done.stderr)


def edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    for key, value in changes.items():
        if key == "scale" or key == "bits":
            manifest["quantization"][key] = value
        elif value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))


def truncate(path: Path, keep: int | None = None) -> None:
    os.truncate(path, path.stat().st_size // 2 if keep is None else keep)


def flip_byte(path: Path, position: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def rewrite_array(path: Path, change) -> None:
    array = np.load(path)
    change(array)
    np.save(path, array)


def test_a_sound_index_passes_every_check(index):
    report = lexir("index", "check", index)
    assert "sound" in report.stdout and "match their checksums" in report.stdout and "absent" not in report.stdout
    assert "structure sound" in lexir("index", "check", index, "--quick").stdout
    manifest = json.loads((index / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"doc_blocks.npy", "block_words.npy", "docs.sqlite", "encoder/bm25.json"}


def test_an_index_without_checksums_is_checked_without_them(index):
    """An index written before lexir recorded checksums (the committed version-1 fixture has none either)."""
    edit_manifest(index, files=None)
    assert lexir("search", index, "vitamin d", "--json").json()["hits"]
    report = lexir("index", "check", index).stdout
    assert "checksums absent for base" in report and "postings checked" in report


@pytest.mark.parametrize("algorithm", ["exhaustive", "auto", "maxscore", "block_max_maxscore"])
def test_damaged_packed_postings_are_an_error_not_a_segfault(index, algorithm):
    """Item 3: out-of-range doc ids made `lexir search` (exhaustive, auto) die with a segfault; in format version 2
    every bit of doc_blocks.npy set means 31-bit gaps that run past every block and every document number."""
    rewrite_array(index / "doc_blocks.npy", lambda words: words.__setitem__(slice(None), 0xFFFFFFFF))
    edit_manifest(index, files=None)  # as in an index without checksums: only the kernels can notice
    assert_one_line_error(run("search", index, "vitamin d", "--algorithm", algorithm), "doc_blocks.npy", "damaged")
    assert_one_line_error(lexir("index", "check", index, check=False), str(index / "doc_blocks.npy"))


def test_damaged_blocks_are_an_error_in_every_kernel(index):
    """Random, zeroed, reversed packed words, and block word offsets or last documents out of place: each kernel,
    one query and a batch, either reports doc_blocks.npy damaged or returns documents that exist."""
    from lexir.index import InvertedIndex

    queries = InvertedIndex(index).load_encoder().encode_queries(["vitamin d and blood pressure", "heat transfer"])
    rng = np.random.default_rng(3)
    damages = [("doc_blocks.npy", lambda words: words.__setitem__(slice(None), 0)),
               ("doc_blocks.npy", lambda words: words.__setitem__(slice(None), words[::-1].copy())),
               ("doc_blocks.npy", lambda words: words.__setitem__(
                   slice(None), rng.integers(0, 2**32, words.size, dtype=np.uint32))),
               ("block_words.npy", lambda starts: starts.__setitem__(slice(1, -1), rng.integers(
                   -2**40, 2**40, starts.size - 2))),
               ("block_last_doc.npy", lambda last: last.__setitem__(slice(None), -5)),
               ("block_last_doc.npy", lambda last: last.__setitem__(slice(None), last[::-1].copy()))]
    for name, damage in damages:
        shutil.copy(index / name, index / "saved.npy")
        rewrite_array(index / name, damage)
        search_every_way(InvertedIndex(index), queries)
        shutil.move(index / "saved.npy", index / name)


def search_every_way(opened, queries) -> None:
    """Every kernel, one query and a batch: an IndexFormatError naming doc_blocks.npy, or hits that exist."""
    from lexir.search import SearchOptions
    from lexir.search.segment import SegmentSearcher

    searcher = SegmentSearcher(opened)
    for algorithm in ("exhaustive", "maxscore", "block_max_maxscore"):
        options = SearchOptions(algorithm=algorithm)
        for batch in (False, True):
            try:
                ranked = searcher.rank(queries, 5, options) if batch else [searcher.rank_one(queries[0], 5, options)]
            except IndexFormatError as error:
                assert "doc_blocks.npy" in str(error)
                continue
            for one in ranked:  # undetected damage (numbers in range, lists out of order): no crash, real numbers
                assert ((one.nums >= 0) & (one.nums < opened.num_docs)).all()


def test_damaged_block_last_documents_never_lead_a_kernel_out_of_its_lists(index):
    from lexir.index import InvertedIndex

    rewrite_array(index / "block_last_doc.npy", lambda last: last.__setitem__(slice(None), 2**31 - 1))
    rewrite_array(index / "block_max.npy", lambda top: top.__setitem__(slice(None), 255))
    opened = InvertedIndex(index)
    search_every_way(opened, opened.load_encoder().encode_queries(["vitamin d and blood pressure"]))
    assert_one_line_error(lexir("index", "check", index, check=False), "block_last_doc.npy")


@pytest.mark.parametrize("recorded", [True, False], ids=["with-checksums", "without-checksums"])
@pytest.mark.parametrize("name", ["doc_blocks.npy", "block_words.npy", "offsets.npy", "block_max.npy", "doc_nnz.npy"])
def test_a_truncated_array_is_named_by_info_search_and_check(index, name, recorded):
    """Item 3: truncated .npy files gave raw tracebacks."""
    if not recorded:
        edit_manifest(index, files=None)
    truncate(index / name)
    path = str(index / name)
    assert_one_line_error(lexir("index", "info", index, check=False), path)
    assert_one_line_error(lexir("search", index, "vitamin d", check=False), path)
    assert_one_line_error(lexir("index", "check", index, check=False), path)


def test_an_array_cut_inside_its_header_is_named(index):
    truncate(index / "doc_blocks.npy", keep=20)
    edit_manifest(index, files=None)
    assert_one_line_error(lexir("index", "info", index, check=False), str(index / "doc_blocks.npy"))


@pytest.mark.parametrize("recorded", [True, False], ids=["with-checksums", "without-checksums"])
def test_a_truncated_document_store_is_named_and_info_fails(index, recorded):
    """Item 3: a truncated docs.sqlite gave a traceback from search, and `lexir index info` exited 0."""
    if not recorded:
        edit_manifest(index, files=None)
    truncate(index / "docs.sqlite")
    path = str(index / "docs.sqlite")
    assert_one_line_error(lexir("index", "info", index, check=False), path)
    assert_one_line_error(lexir("search", index, "vitamin d", check=False), path)
    assert_one_line_error(lexir("index", "check", index, check=False), path)


@pytest.mark.parametrize(("changes", "named"), [
    ({"num_docs": 7}, "doc_nnz.npy"),
    ({"num_docs": -1}, "num_docs"),
    ({"num_terms": 3}, "offsets.npy"),
    ({"num_postings": 10}, "impacts.npy"),
    ({"scale": -0.5}, "scale"),
    ({"scale": float("nan")}, "scale"),
    ({"bits": 12}, "bits"),
    ({"block_size": 0}, "block_size"),
    ({"block_size": 1}, "block_offsets.npy"),
])
def test_a_manifest_with_wrong_numbers_is_refused(index, changes, named):
    """Item 3: a manifest that is valid JSON with wrong numbers (num_docs, a negative scale) was used silently."""
    edit_manifest(index, **changes)
    for args in (("index", "info", index), ("search", index, "vitamin d"), ("index", "check", index)):
        assert_one_line_error(lexir(*args, check=False), named)


@pytest.mark.parametrize("name", ["doc_blocks.npy", "docs.sqlite", "encoder/bm25.json", "term_max.npy"])
def test_flipped_bytes_are_found_by_their_checksum(index, name):
    """Same size, other bytes: opening cannot tell (it reads no contents); `lexir index check` does."""
    flip_byte(index / name, position=-3 if name == "encoder/bm25.json" else -1)
    result = lexir("index", "check", index, check=False)
    assert_one_line_error(result, str(index / name), "CRC-32")


def test_a_live_segment_and_a_dense_side_are_checked_too(index, tmp_path):
    from lexir.corpus import Document
    from lexir.index.live import LiveIndex

    LiveIndex(index).add([Document("x1", "Extra", "vitamin d in winter")])
    segment = next((index / "segments").iterdir())
    assert "segment" in lexir("index", "check", index).stdout
    flip_byte(segment / "doc_blocks.npy", position=-5)  # the last block's last word (the spare word follows)
    assert_one_line_error(lexir("index", "check", index, check=False), str(segment / "doc_blocks.npy"))
    truncate(segment / "doc_blocks.npy")
    assert_one_line_error(lexir("search", index, "vitamin d", check=False), str(segment / "doc_blocks.npy"))


def test_a_truncated_faiss_file_is_named(tmp_path):
    pytest.importorskip("faiss")
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "index-v1"
    index = Path(shutil.copytree(fixture, tmp_path / "index-v1"))
    assert "checksums absent" in lexir("index", "check", index).stdout
    truncate(index / "dense" / "faiss.index")
    assert_one_line_error(lexir("index", "check", index, check=False), str(index / "dense" / "faiss.index"))


def test_serve_refuses_a_damaged_index_before_it_starts(index):
    """Item 3: the server started on a damaged index and crashed on the first query."""
    truncate(index / "doc_blocks.npy")
    assert_one_line_error(run("serve", index, "--port", "0"), str(index / "doc_blocks.npy"))


def test_eval_names_the_damaged_file(tmp_path):
    folder = write_beir_folder(tmp_path / "beir", {"test": {"q1": ("vitamin d", {"d0": 1})}})
    index = tmp_path / "index"
    lexir("index", "build", folder, "--encoder", "bm25", "--out", index, "--quiet")
    truncate(index / "doc_blocks.npy")
    assert_one_line_error(lexir("eval", folder, "--index", index, "--no-progress", check=False),
                          str(index / "doc_blocks.npy"))
