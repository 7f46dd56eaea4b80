"""Live index: segments, tombstones, live IDF, snapshots, merges, and a SIGKILL during writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lexir.corpus import Corpus, Document
from lexir.encoders import create_encoder
from lexir.encoders.idf import corpus_idf
from lexir.errors import LexirError
from lexir.index import InvertedIndex, build_index
from lexir.index.live import SEGMENTS_DIR, DocumentNotFoundError, LiveIndex, Snapshot
from lexir.search import SearchOptions, open_search
from tests.helpers import write_jsonl
from tests.texts import DOCUMENTS

NEW = [Document("n1", "Vitamin D in winter", "Sunlight is scarce in winter, so vitamin D levels fall."),
       Document("n2", "Wing stall", "A wing stalls when the angle of attack passes a critical value."),
       Document("d5", "Sleep, revised", "Naps help memory too, a new study of students suggests.")]


@pytest.fixture
def index_dir(tmp_path, splade_tiny):
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), splade_tiny, tmp_path / "index", progress=False)
    return tmp_path / "index"


@pytest.fixture
def live(index_dir, splade_tiny):
    return LiveIndex(index_dir, encoder=splade_tiny)


def live_documents(live: LiveIndex) -> dict[str, Document]:
    snapshot = live.snapshot()
    found = {}
    for name, index in snapshot.segments.items():
        for num in range(index.num_docs):
            if not snapshot.is_deleted(name, np.array([num]))[0]:
                document = index.docstore.documents([num])[0]
                found[document.id] = document
    return found


def test_add_replace_delete_are_searchable_at_once(live, splade_tiny):
    searcher = open_search(live)
    live.add(NEW)
    assert searcher.search("vitamin d in winter sunlight", k=1).hits[0].id == "n1"
    assert live.snapshot().document("d5").title == "Sleep, revised"
    assert [h.id for h in searcher.search("naps students memory", k=12).hits].count("d5") == 1
    live.delete(["n1", "d0"])
    hits = [h.id for h in searcher.search("vitamin d", k=20).hits]
    assert "n1" not in hits and "d0" not in hits and "d8" in hits
    with pytest.raises(DocumentNotFoundError):
        live.delete(["n1"])
    with pytest.raises(DocumentNotFoundError):
        live.snapshot().document("no-such-id")
    assert live.snapshot().num_docs == len(DOCUMENTS) + 2 - 2


def test_live_statistics_and_scores_equal_brute_force(live, splade_tiny):
    live.add(NEW)
    live.delete(["d1", "n2"])
    documents = live_documents(live)
    vectors = splade_tiny.encode_documents([doc.contents for doc in documents.values()])
    snapshot = live.snapshot()
    np.testing.assert_array_equal(snapshot.doc_freq, np.bincount(vectors.indices, minlength=vectors.shape[1]))
    quantizer = snapshot.base.quantizer
    vectors.data = quantizer.dequantize(quantizer.quantize(vectors.data))
    searcher = open_search(live, SearchOptions(query_weighting="model-idf"))
    query = "vitamin d and heart disease"
    encoded = splade_tiny.encode_queries([query])
    encoded.data = encoded.data * corpus_idf(snapshot.doc_freq, len(documents))[encoded.indices]
    expected = (encoded @ vectors.T).toarray()[0]
    ids = list(documents)
    order = [i for i in np.argsort(-expected, kind="stable")[:5]]
    result = searcher.search(query, k=5)
    assert [h.id for h in result.hits] == [ids[i] for i in order]
    np.testing.assert_allclose([h.score for h in result.hits], expected[order], rtol=1e-4)


def test_a_snapshot_is_unchanged_by_later_writes(live):
    before = live.snapshot()
    live.add(NEW[:1])
    live.delete(["d2"])
    assert before.num_docs == len(DOCUMENTS) and before.find("n1") is None and before.find("d2") is not None
    after = live.snapshot()
    assert after.find("n1") is not None and after.find("d2") is None


def test_merges_keep_results_and_the_policy_bounds_segments(index_dir, splade_tiny):
    live = LiveIndex(index_dir, encoder=splade_tiny, max_segments=2)
    searcher = open_search(live)
    for document in NEW:
        live.add([document])
    assert len(live.snapshot().commit.segments) <= 2
    live.delete(["n2"])
    query = "wing angle of attack vitamin"
    before = [(h.id, h.score) for h in searcher.search(query, k=8).hits]
    merged = live.merge()
    assert len(merged.segments) == 1 and not merged.deleted.get(merged.segments[0])
    assert [(h.id, h.score) for h in searcher.search(query, k=8).hits] == before
    on_disk = {entry.name for entry in (index_dir / SEGMENTS_DIR).iterdir()}
    live.add([Document("n9", "", "one more")])  # a later write removes the superseded folders
    assert {entry.name for entry in (index_dir / SEGMENTS_DIR).iterdir()} <= on_disk | set(
        live.snapshot().commit.segments)
    assert len(list((index_dir / SEGMENTS_DIR).iterdir())) == len(live.snapshot().commit.segments)


def test_other_processes_see_commits(index_dir, splade_tiny):
    reader = open_search(LiveIndex(index_dir))
    assert reader.search("sunlight scarce winter", k=1).hits[0].id != "n1"
    LiveIndex(index_dir, encoder=splade_tiny).add(NEW[:1])
    assert reader.search("sunlight scarce winter", k=1).hits[0].id == "n1"


def test_bad_writes(live):
    with pytest.raises(Exception, match="no documents"):
        live.add([])
    with pytest.raises(Exception, match="more than once"):
        live.add([NEW[0], NEW[0]])


WRITER = """
import sys
from lexir.corpus import Document
from lexir.index.live import LiveIndex
live = LiveIndex(sys.argv[1])
for batch in range(1000):
    live.add([Document(f"b{batch}-{i}", "", f"batch {batch} document {i} about wings and heat") for i in range(4)])
    print(batch, flush=True)
"""


def test_sigkill_during_writes_loses_at_most_the_uncommitted_batch(tmp_path):
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "index")], stdout=subprocess.PIPE,
                               text=True)
    committed = -1
    deadline = time.monotonic() + 60
    while committed < 5 and time.monotonic() < deadline:
        committed = int(process.stdout.readline())
    time.sleep(np.random.default_rng().uniform(0, 0.05))  # land somewhere inside a later write
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    printed = process.stdout.read().split()  # batches committed after the last line read above
    committed = max([committed, *map(int, printed)])
    live = LiveIndex(tmp_path / "index")
    ids = set(live_documents(live))
    batches = {doc_id.split("-")[0] for doc_id in ids if doc_id.startswith("b")}
    assert {f"b{i}" for i in range(committed + 1)} <= batches  # nothing committed is lost
    for batch in batches:  # a batch is there whole or not at all
        assert {f"{batch}-{i}" for i in range(4)} <= ids
    assert len(batches) <= committed + 2
    live.add([Document("after", "", "supersonic cone supersonic shock cone")])
    assert live.snapshot().document("after").text.startswith("supersonic")
    assert open_search(live).search("supersonic cone shock", k=1).hits[0].id == "after"
    for name in live.snapshot().commit.segments:
        InvertedIndex(tmp_path / "index" / SEGMENTS_DIR / name)


# concurrency (issue #16) --------------------------------------------------------------------------------------------

def test_a_commit_is_opened_once_and_shared_by_every_thread(live, monkeypatch):
    """Threads that ask for the snapshot after a commit get one snapshot, built once, that keeps the segments it
    shares with the previous one (the base is not reopened)."""
    from concurrent.futures import ThreadPoolExecutor

    import lexir.index.live as live_module

    before = live.snapshot()
    opened = []
    real = live_module.InvertedIndex

    def counting(path):
        opened.append(path)
        time.sleep(0.01)  # widen the window in which other threads would open it too
        return real(path)

    monkeypatch.setattr(live_module, "InvertedIndex", counting)
    other = LiveIndex(live.path)  # another writer (think: another process), so `live` must notice the commit
    other.add(NEW[:1])
    opened.clear()
    with ThreadPoolExecutor(16) as pool:
        snapshots = list(pool.map(lambda _: live.snapshot(), range(64)))
    assert len({id(snapshot) for snapshot in snapshots}) == 1
    assert [path.name for path in opened] == [snapshots[0].commit.segments[-1]]  # only the new segment
    assert snapshots[0].segments[""] is before.segments[""]


def test_concurrent_writes_are_grouped_into_few_durable_commits(index_dir, splade_tiny):
    """16 threads adding at once: fewer commits than writes, each caller's commit holds its document, and every
    document is searchable and stored; a delete queued with adds of the same id applies in arrival order."""
    from concurrent.futures import ThreadPoolExecutor

    live = LiveIndex(index_dir, encoder=splade_tiny, max_segments=100)  # no merge: every commit stays readable
    start = live.snapshot().commit.generation

    def add(number: int):
        return live.add([Document(f"g{number}", "", f"grouped document number {number} about wings")])

    with ThreadPoolExecutor(16) as pool:
        commits = list(pool.map(add, range(32)))
    final = live.snapshot()
    assert final.commit.generation - start < 32  # grouped (and maybe merged): not one commit per write
    assert all(final.find(f"g{number}") is not None for number in range(32))
    on_disk = LiveIndex(index_dir).snapshot()  # as another process reads it
    for number, commit in enumerate(commits):
        held = Snapshot(index_dir, commit)  # the commit the caller got back holds its document
        assert commit.generation > start and held.find(f"g{number}") is not None
        assert on_disk.find(f"g{number}") is not None


def test_a_group_applies_its_writes_in_order_and_one_bad_write_fails_alone(live):
    from lexir.index.live import _Write

    group = [_Write("add", [NEW[0]]), _Write("delete", ["n1"]), _Write("delete", ["no-such-id"]),
             _Write("add", [NEW[1]]), _Write("add", [Document("n2", "Wing stall", "revised text")]),
             _Write("delete", ["d0"])]
    live._commit_group(group)
    assert [write.done for write in group] == [True] * 6
    assert isinstance(group[2].error, DocumentNotFoundError)
    results = {write.result.generation for write in group if write.error is None}
    assert results == {1}  # one commit for the five good writes
    snapshot = live.snapshot()
    assert snapshot.find("n1") is None and snapshot.find("d0") is None
    assert snapshot.document("n2").text == "revised text" and len(snapshot.commit.segments) == 1
    assert snapshot.segments[snapshot.commit.segments[0]].num_docs == 1  # n1 never stored, n2 stored once


def test_a_failing_group_commits_its_other_writes(live, monkeypatch):
    from lexir.index.live import _Write

    real = live._write_segment

    def refuse_bad(snapshot, name, documents):
        if any(document.id == "bad" for document in documents):
            raise RuntimeError("encoder failure")
        return real(snapshot, name, documents)

    monkeypatch.setattr(live, "_write_segment", refuse_bad)
    group = [_Write("add", [NEW[0]]), _Write("add", [Document("bad", "", "x")]), _Write("add", [NEW[1]])]
    live._commit_group(group)
    assert isinstance(group[1].error, RuntimeError) and group[0].error is None and group[2].error is None
    assert live.snapshot().find("n1") is not None and live.snapshot().find("bad") is None


def test_ids_and_texts_must_be_valid_unicode(live):
    for document in (Document("\ud800", "", "x"), Document("a", "\udfff", ""), Document("a", "", "x\ud800y")):
        with pytest.raises(LexirError, match="not valid Unicode"):
            live.add([document])
    assert live.snapshot().commit.generation == 0


def test_merging_twice_merges_once(live):
    live.add(NEW[:1])
    live.add(NEW[1:2])
    first = live.merge()
    second = live.merge()
    assert second == first and len(first.segments) == 1


def test_a_killed_writers_temporary_commit_file_is_removed(live):
    orphan = live.path / ".live.json.4242-deadbeef.tmp"
    orphan.write_text("{")
    live.add(NEW[:1])
    assert not orphan.exists()


def test_deleted_document_counts_carry_over_between_snapshots(live, splade_tiny):
    """Statistics after each delete equal those counted from scratch (the counts are carried, not redone)."""
    from lexir.index.live import Snapshot

    for doc_id in ("d1", "d2", "d3"):
        live.delete([doc_id])
        carried = live.snapshot().statistics
        fresh = Snapshot(live.path, live.snapshot().commit, lambda: splade_tiny).statistics
        np.testing.assert_array_equal(carried.doc_freq, fresh.doc_freq)
        np.testing.assert_array_equal(carried.text_doc_freq, fresh.text_doc_freq)
        assert carried.num_docs == fresh.num_docs


def test_queries_are_weighted_with_the_statistics_of_the_snapshot_they_search(tmp_path, monkeypatch):
    """A search that encodes while another thread's search of a newer commit weighs its queries keeps the IDF of
    its own snapshot (the encoder's statistics are not shared state)."""
    from lexir.encoders.bm25 import BM25Encoder
    from lexir.search.sparse import SparseRetriever

    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    live = LiveIndex(tmp_path / "index")
    retriever = SparseRetriever(live)
    query = "vitamin d and heart disease"
    old = live.snapshot()
    expected = InvertedIndex(tmp_path / "index").load_encoder()
    expected.use_corpus_statistics(old.statistics)
    real = BM25Encoder.encode_queries
    interleaved = []

    def encode_queries(encoder, texts):
        if not interleaved:  # the first (outer) search: another search of a newer commit runs meanwhile
            interleaved.append(True)
            LiveIndex(tmp_path / "index").add([Document(f"v{i}", "", "vitamin heart vitamin") for i in range(8)])
            assert retriever.encode([query]).snapshot is not old
        return real(encoder, texts)

    monkeypatch.setattr(BM25Encoder, "encode_queries", encode_queries)
    outer = retriever.encode([query])
    assert outer.snapshot is old
    np.testing.assert_array_equal(outer.vectors.toarray(), real(expected, [query]).toarray())


def test_overlapping_merges_report_once(tmp_path):
    """Two `lexir index merge` at once: one merges, the other waits for it and finds nothing left to merge."""
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    live = LiveIndex(tmp_path / "index", max_segments=100)
    for number in range(6):
        live.add([Document(f"m{number}", "", f"merge me {number}")])
    merges = [subprocess.Popen([sys.executable, "-m", "lexir", "index", "merge", str(tmp_path / "index")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = sorted(process.communicate(timeout=120)[0] for process in merges)
    assert [process.returncode for process in merges] == [0, 0]
    assert outputs[0].startswith("merged 6 segments into 1") and outputs[1].startswith("nothing to merge"), outputs
    assert len(LiveIndex(tmp_path / "index").snapshot().commit.segments) == 1
