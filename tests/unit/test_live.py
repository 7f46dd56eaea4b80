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
from lexir.index import InvertedIndex, build_index
from lexir.index.live import SEGMENTS_DIR, DocumentNotFoundError, LiveIndex
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
