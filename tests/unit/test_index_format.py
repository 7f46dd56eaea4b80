"""The on-disk index format: an index written by an earlier lexir still opens and answers the same, and every file
of a new index has the dtype, shape and layout docs/architecture.md ("Index directory format (version 2)") gives.

tests/fixtures/index-v1/ was written once by tests/fixtures/make_index_v1.py (format version 1: BM25 over five
documents, a flat MiniLM dense side, a live segment with one added document and a tombstone) and is never
rewritten; index-v1.expected.json holds what searching it returned then. A change of the format must keep opening
(or upgrading) it with identical results: version 2 opens it converted in memory, and `lexir index upgrade`
converts it in place; both must answer as recorded. A change that writer and reader both follow without a
version bump fails the layout checks on a freshly built index. The `files` records of both manifests (optional:
the fixture predates them) are checked against the files themselves.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import assert_one_line_error, lexir, write_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V1 = FIXTURES / "index-v1"
EXPECTED = json.loads((FIXTURES / "index-v1.expected.json").read_text()) if V1.is_dir() else {}
FORMAT_VERSION = 2  # docs/architecture.md, "Index directory format (version 2)"
MANIFEST_KEYS = {"format_version", "lexir_version", "created_at", "source", "encoder", "num_docs", "num_terms",
                 "num_postings", "quantization", "block_size", "extra"}
DENSE_MANIFEST_KEYS = {"format_version", "lexir_version", "faiss_version", "created_at", "encoder", "faiss", "metric",
                       "dim", "count", "docs_fingerprint", "extra"}
RECORDS = "files"  # optional in both manifests: {path: {"bytes", "crc32"}} of the files beside them (absent before)


@pytest.fixture
def v1_index(tmp_path) -> Path:
    """A copy of the committed fixture (opening may write: live.json checks, locks, upgrades)."""
    copy = tmp_path / "index-v1"
    shutil.copytree(V1, copy)
    return copy


def test_a_version_1_index_opens_and_answers_exactly_as_when_it_was_written(v1_index, minilm):
    assert_answers_as_recorded(v1_index, format_version=1)


def test_an_upgraded_version_1_index_answers_exactly_as_when_it_was_written(v1_index, minilm):
    """`lexir index upgrade` converts the base and its live segment in place; the index then checks sound (every
    file against its new record) and answers as recorded, and upgrading again changes nothing."""
    report = lexir("index", "upgrade", v1_index, "--no-progress").stdout
    assert "2 part(s) converted to format version 2" in report
    for folder in (v1_index, v1_index / "segments" / "000001"):
        check_index_layout(folder)
        assert not (folder / "doc_ids.npy").exists()
    assert "sound" in lexir("index", "check", v1_index).stdout
    assert_answers_as_recorded(v1_index, format_version=2)
    assert "already format version 2" in lexir("index", "upgrade", v1_index, "--no-progress").stdout


def test_a_large_version_1_index_is_refused_with_the_upgrade_command(v1_index, monkeypatch):
    import lexir.index.reader as reader

    monkeypatch.setattr(reader, "V1_OPEN_POSTINGS", 3)
    assert_one_line_error(lexir("search", v1_index, "vitamin d", check=False), f"lexir index upgrade {v1_index}")


def test_an_unknown_format_version_is_a_clear_error(v1_index):
    manifest = json.loads((v1_index / "manifest.json").read_text())
    (v1_index / "manifest.json").write_text(json.dumps({**manifest, "format_version": 3}))
    for args in (("search", v1_index, "vitamin d"), ("index", "upgrade", v1_index)):
        assert_one_line_error(lexir(*args, check=False), "format version 3", "versions 1 and 2")


def assert_answers_as_recorded(v1_index: Path, format_version: int) -> None:
    from fastapi.testclient import TestClient

    from lexir.api.app import create_app

    for query in EXPECTED["queries"]:  # sparse: the same hits, bit-identical scores and contributions
        found = lexir("search", v1_index, query, "--json", "--explain", "-k", "10").json()["hits"]
        assert found == EXPECTED["cli"]["sparse"][query], query
    info = lexir("index", "info", v1_index, "--json").json()
    assert info["format_version"] == format_version
    for key in ("num_docs", "num_terms", "num_postings", "encoder", "quantization", "block_size"):
        assert info[key] == EXPECTED["info"][key], key
    assert {key: info["dense"][key] for key in ("faiss", "dim", "count", "encoder", "docs_fingerprint")} == {
        key: EXPECTED["info"]["dense"][key] for key in ("faiss", "dim", "count", "encoder", "docs_fingerprint")}
    with TestClient(create_app(v1_index)) as client:
        for mode in ("sparse", "dense", "hybrid"):
            for query in EXPECTED["queries"]:
                hits = client.get("/search", params={"q": query, "k": 10, "mode": mode,
                                                     "explain": mode == "sparse"}).json()["hits"]
                wanted = EXPECTED["http"][mode][query] if mode != "hybrid" else reciprocal_rank_fusion(query)
                if mode == "sparse":
                    assert hits == wanted, query
                else:  # the query vector is computed again: the same ranking, scores to float precision
                    assert [hit["id"] for hit in hits] == [hit["id"] for hit in wanted], (mode, query)
                    assert [hit["score"] for hit in hits] == pytest.approx([h["score"] for h in wanted], abs=1e-5)
        added = EXPECTED["added"]
        assert client.get(f"/documents/{added['id']}").json() == added
        assert client.get(f"/documents/{EXPECTED['deleted']}").status_code == 404
        stats = client.get("/stats").json()
        assert {key: stats[key] for key in EXPECTED["stats"]} == EXPECTED["stats"]


def reciprocal_rank_fusion(query: str) -> list[dict]:
    """The hybrid answer from the fixture's own sparse and dense answers: RRF (k=60, equal weights) by hand.

    The fixture's recorded hybrid answers came from a lexir whose hybrid search left the live segment out of its
    sparse side (the added document was missing: issue #15); the sparse and dense answers it recorded are whole
    (k=10 covers every live document), so their fusion is what hybrid search must answer."""
    scores: dict[str, float] = {}
    for mode in ("sparse", "dense"):
        for rank, hit in enumerate(EXPECTED["http"][mode][query], start=1):
            scores[hit["id"]] = scores.get(hit["id"], 0.0) + 1 / (60 + rank)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:10]
    return [{"id": doc_id, "score": score} for doc_id, score in ranked]


def test_the_committed_fixture_is_format_version_1():
    check_index_layout(V1, version=1)
    live = json.loads((V1 / "live.json").read_text())
    assert live == {"generation": 2, "segments": ["000001"], "deleted": {"": [2]}}
    for segment in live["segments"]:
        check_index_layout(V1 / "segments" / segment, version=1)
    check_dense_layout(V1)


def test_a_new_index_is_written_in_the_documented_format(tmp_path, minilm):
    """BM25 over 150 documents (one list spans three 64-posting blocks), a dense side, a live write: every file."""
    documents = [(f"n{i}", f"Note {i}", f"common words in every note, and word{i % 7} and rare{i}") for i in range(150)]
    source = write_jsonl(tmp_path / "docs.jsonl", documents)
    index = tmp_path / "index"
    lexir("index", "build", source, "--encoder", "bm25", "--dense", "minilm", "--out", index, "--quiet")
    arrays = check_index_layout(index)
    assert int(np.diff(arrays["block_offsets"]).max()) == 3  # "common": 150 postings in blocks of 64
    check_dense_layout(index)
    assert RECORDS in json.loads((index / "manifest.json").read_text())
    assert RECORDS in json.loads((index / "dense" / "dense.json").read_text())

    from fastapi.testclient import TestClient

    from lexir.api.app import create_app

    with TestClient(create_app(index, api_key="k")) as client:
        document = {"id": "x1", "title": "Extra", "text": "common words and one more"}
        assert client.post("/documents", json={"documents": [document]}, headers={"X-API-Key": "k"}
                           ).status_code == 200
        assert client.delete("/documents/n3", headers={"X-API-Key": "k"}).status_code == 200
    live = json.loads((index / "live.json").read_text())
    assert set(live) == {"generation", "segments", "deleted"} and live["generation"] == 2
    assert live["deleted"] == {"": [3]} and len(live["segments"]) == 1
    assert all(len(name) == 6 and name.isdigit() for name in live["segments"])
    segment = check_index_layout(index / "segments" / live["segments"][0], own_state=False)
    base = json.loads((index / "manifest.json").read_text())
    assert json.loads((index / "segments" / live["segments"][0] / "manifest.json").read_text())["quantization"] == \
        base["quantization"]  # segments are quantized with the base's scale
    assert segment["doc_nnz"].shape == (1,)
    assert RECORDS in json.loads((index / "segments" / live["segments"][0] / "manifest.json").read_text())


def load_array(folder: Path, name: str) -> np.ndarray:
    array = np.load(folder / f"{name}.npy", allow_pickle=False)
    assert array.ndim == 1 and array.flags.c_contiguous, name
    return array


def check_index_layout(folder: Path, version: int = FORMAT_VERSION, own_state: bool = True) -> dict[str, np.ndarray]:
    """docs/architecture.md's table, file by file, with the relations between the arrays; version 2's packed
    document numbers are decoded by the codec's rules written out here (a 5-bit gap width, then the gaps, each
    block padded to a 32-bit word, one spare word at the end). Live segments written since lexir stopped copying
    the encoder state into them (`own_state=False`) use the base's."""
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest) - {RECORDS} == MANIFEST_KEYS and manifest["format_version"] == version
    if RECORDS in manifest:  # every file of the folder as written (live files, segments and dense/ came later)
        later = {"live.json", ".write.lock", "segments", "dense"}
        written = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
                   and path.name != "manifest.json" and path.relative_to(folder).parts[0] not in later}
        assert set(manifest[RECORDS]) == written
        check_records(folder, manifest[RECORDS])
    bits, block_size = manifest["quantization"]["bits"], manifest["block_size"]
    impact = np.dtype(np.uint8 if bits == 8 else np.uint16).newbyteorder("<")
    types = {"offsets": "<i8", "impacts": impact, "term_max": impact, "block_offsets": "<i8", "block_max": impact,
             "block_last_doc": "<i4", "doc_freq": "<i8", "doc_nnz": "<i4",
             **({"doc_ids": "<i4"} if version == 1 else {"doc_blocks": "<u4", "block_words": "<i8"})}
    arrays = {name: load_array(folder, name) for name in types}
    for name, dtype in types.items():
        assert arrays[name].dtype == np.dtype(dtype), (name, arrays[name].dtype)
    num_terms, num_docs, num_postings = manifest["num_terms"], manifest["num_docs"], manifest["num_postings"]
    offsets, impacts = arrays["offsets"], arrays["impacts"]
    doc_ids = arrays["doc_ids"] if version == 1 else unpack_by_hand(arrays, block_size)
    assert offsets.shape == (num_terms + 1,) and offsets[0] == 0 and offsets[-1] == num_postings
    assert (np.diff(offsets) >= 0).all()
    assert doc_ids.shape == impacts.shape == (num_postings,) and (impacts > 0).all()
    assert arrays["term_max"].shape == arrays["doc_freq"].shape == (num_terms,)
    assert arrays["doc_nnz"].shape == (num_docs,) and int(arrays["doc_nnz"].sum()) == num_postings
    assert arrays["block_offsets"].shape == (num_terms + 1,) and arrays["block_offsets"][0] == 0
    blocks = int(arrays["block_offsets"][-1])
    assert arrays["block_max"].shape == arrays["block_last_doc"].shape == (blocks,)
    counted = np.zeros(num_docs, dtype=np.int64)
    for term in range(num_terms):
        start, end = int(offsets[term]), int(offsets[term + 1])
        docs, values = doc_ids[start:end], impacts[start:end]
        assert (np.diff(docs) > 0).all() and (docs.size == 0 or 0 <= docs[0] and docs[-1] < num_docs)
        assert arrays["doc_freq"][term] == docs.size
        assert arrays["term_max"][term] == (values.max() if values.size else 0)
        first, last = int(arrays["block_offsets"][term]), int(arrays["block_offsets"][term + 1])
        assert last - first == math.ceil(docs.size / block_size)
        for block in range(first, last):
            piece = slice((block - first) * block_size, (block - first + 1) * block_size)
            assert arrays["block_max"][block] == values[piece].max()
            assert arrays["block_last_doc"][block] == docs[piece][-1]
        counted[docs] += 1
    assert (counted == arrays["doc_nnz"]).all()
    with sqlite3.connect(f"file:{folder / 'docs.sqlite'}?mode=ro", uri=True) as store:
        columns = [(name, kind.upper(), pk) for _, name, kind, _, _, pk in store.execute("PRAGMA table_info(docs)")]
        assert columns == [("num", "INTEGER", 1), ("id", "TEXT", 0), ("title", "TEXT", 0), ("text", "TEXT", 0)]
        unique = [name for _, name, is_unique, *_ in store.execute("PRAGMA index_list(docs)") if is_unique]
        assert any([row[2] for row in store.execute(f"PRAGMA index_info({name})")] == ["id"] for name in unique)
        assert [num for (num,) in store.execute("SELECT num FROM docs ORDER BY num")] == list(range(num_docs))
    if manifest["encoder"]["kind"] == "bm25" and own_state:
        state = json.loads((folder / "encoder" / "bm25.json").read_text())
        assert isinstance(state, dict) and state
    elif not own_state:
        assert not (folder / "encoder").exists()
    return arrays


def unpack_by_hand(arrays: dict[str, np.ndarray], block_size: int) -> np.ndarray:
    """Every document number of a version-2 folder, read bit by bit in Python (independent of codec.py)."""
    words, block_words, offsets = arrays["doc_blocks"], arrays["block_words"], arrays["offsets"]
    assert block_words[0] == 0 and block_words[-1] == len(words) - 1 and words[-1] == 0  # the spare word
    bits = "".join(format(int(word), "032b")[::-1] for word in words)  # little-endian bit order
    doc_ids = []
    for term in range(len(offsets) - 1):
        previous = -1
        for block in range(arrays["block_offsets"][term], arrays["block_offsets"][term + 1]):
            count = min(block_size, offsets[term + 1] - offsets[term] - (block - arrays["block_offsets"][term])
                        * block_size)
            at = int(block_words[block]) * 32

            def take(width: int) -> int:
                nonlocal at
                value = int(bits[at:at + width][::-1] or "0", 2)
                at += width
                return value

            gap_bits = take(5)
            for _ in range(count):
                previous += take(gap_bits) + 1
                doc_ids.append(previous)
            assert (int(block_words[block + 1]) * 32 - at) in range(32)  # padded to the next word
    return np.array(doc_ids, dtype=np.int32)


def check_dense_layout(folder: Path) -> None:
    import faiss

    manifest = json.loads((folder / "dense" / "dense.json").read_text())
    assert set(manifest) - {RECORDS} == DENSE_MANIFEST_KEYS and manifest["format_version"] == 1
    if RECORDS in manifest:
        assert set(manifest[RECORDS]) == {"faiss.index"}
        check_records(folder / "dense", manifest[RECORDS])
    assert manifest["metric"] == "inner_product"
    num_docs = json.loads((folder / "manifest.json").read_text())["num_docs"]
    stored = faiss.read_index(str(folder / "dense" / "faiss.index"))
    assert (stored.ntotal, stored.d) == (manifest["count"], manifest["dim"]) and manifest["count"] == num_docs
    assert stored.metric_type == faiss.METRIC_INNER_PRODUCT
    assert manifest["docs_fingerprint"].startswith("sha256:")


def check_records(folder: Path, records: dict) -> None:
    """Each recorded file's size and CRC-32 (zlib's, as 8 lowercase hex digits)."""
    for name, record in records.items():
        data = (folder / name).read_bytes()
        assert record == {"bytes": len(data), "crc32": f"{zlib.crc32(data):08x}"}, name
