"""Writes on a sharded index: routed to the owning shard, scores still equal one index's after adds, replaces,
deletes and new words; a failing shard is named, nothing is written to a shard that did not answer, partial
results; the REST API over a sharded index (TestClient)."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from lexir.api.app import create_app
from lexir.corpus import Document
from lexir.encoders import create_encoder
from lexir.errors import LexirError
from lexir.index.live import DocumentNotFoundError, LiveIndex
from lexir.index.sharded import shard_of
from lexir.search import SearchOptions, open_search
from lexir.search.shard import LocalShard, ShardUnavailableError
from lexir.search.sharded import ShardedIndex
from tests.unit.sharded_corpus import SHARDED_QUERIES, build_pair

KEY = "shard-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ADDED = [Document("n1", "Glaciers", "Glaciers carve valleys; meltwater feeds rivers in the summer heat."),
         Document("d3", "Wing design revisited", "A new wing with winglets reduces drag in cruise flight."),
         Document("n2", "Tides", "The moon raises tides; spring tides follow the full moon and new moon."),
         Document("n3", "Volcanoes", "Basalt lava flows from shield volcanoes; heat transfer cools the crust.")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_pair(tmp_path_factory.mktemp("live"), lambda: create_encoder("bm25"), 3)


@pytest.fixture
def pair(built, tmp_path):
    """Writable copies of (one index, sharded index)."""
    one, sharded = (shutil.copytree(path, tmp_path / path.name) for path in built)
    return one, sharded


def listed(searcher, query, k=10):
    return [(hit.id, hit.score) for hit in searcher.search(query, k).hits]


def test_writes_go_to_the_owning_shard_and_scores_stay_those_of_one_index(pair):
    one, sharded = pair
    single, split = LiveIndex(one), ShardedIndex(sharded)
    for index in (single, split):
        index.add(ADDED[:2])
        index.add(ADDED[2:])
        index.delete(["d5", "m3"])
    for document in ADDED:
        owner = split.shards[shard_of(document.id, 3)]
        assert owner.documents([document.id])[0].text == document.text
        for shard in (shard for shard in split.shards if shard is not owner):
            with pytest.raises(DocumentNotFoundError):
                shard.documents([document.id])
    with pytest.raises(DocumentNotFoundError):
        split.document("d5")
    for weighting in ("model", "idf"):
        options = SearchOptions(query_weighting=weighting)
        a, b = open_search(single, options), open_search(split, options)
        for query in [*SHARDED_QUERIES, "glaciers meltwater", "moon tides basalt", "winglets drag"]:  # new words too
            assert listed(b, query, 60) == listed(a, query, 60), query


def test_a_delete_of_an_unknown_id_writes_nothing(pair):
    _, sharded = pair
    index = ShardedIndex(sharded)
    before = index.stats()["generation"]
    with pytest.raises(DocumentNotFoundError):
        index.delete(["nope"])
    owned = {shard_of(doc_id, 3): doc_id for doc_id in ("d0", "d1", "d2", "d3", "d4", "d5", "d6")}
    with pytest.raises(DocumentNotFoundError, match="nope"):
        index.delete([*owned.values(), "nope"])  # ids of every shard, then one that no shard holds
    assert index.stats()["generation"] == before
    assert all(index.document(doc_id).id == doc_id for doc_id in owned.values())


class FailingShard:
    """A LocalShard whose writes (or every call) fail as a shard that went down does."""

    def __init__(self, shard: LocalShard, *, writes_only: bool) -> None:
        self.shard, self.name, self.writes_only = shard, shard.name, writes_only

    def __getattr__(self, name):
        if name in ("add", "delete") or not self.writes_only:
            def fail(*_, **__):
                raise ShardUnavailableError([self.name], "connection refused")
            return fail
        return getattr(self.shard, name)


def shards_with(sharded, failing: str, *, writes_only: bool) -> list:
    opened = ShardedIndex(sharded).shards
    return [FailingShard(shard, writes_only=writes_only) if shard.name == failing else shard for shard in opened]


def test_a_batch_across_shards_names_the_shard_that_failed_and_what_was_committed(pair):
    _, sharded = pair
    targets = sorted({shard_of(document.id, 3) for document in ADDED})
    assert len(targets) >= 2
    failing = f"shard-{targets[-1]:02d}"
    index = ShardedIndex(sharded, shards_with(sharded, failing, writes_only=True))
    with pytest.raises(ShardUnavailableError, match=f"{failing}.*not written.*committed") as raised:
        index.add(ADDED)
    assert raised.value.shards == (failing,)
    for document in ADDED:
        stored = [hit.id for hit in open_search(index).search(document.text, 60).hits]
        if shard_of(document.id, 3) == targets[-1]:
            assert document.id not in stored or document.id == "d3"  # d3 was there before: not replaced
        else:
            assert index.document(document.id).text == document.text


def test_nothing_is_written_when_a_shard_does_not_answer_its_check(pair):
    _, sharded = pair
    failing = f"shard-{shard_of(ADDED[0].id, 3):02d}"
    index = ShardedIndex(sharded, shards_with(sharded, failing, writes_only=False))
    healthy = [shard for shard in index.shards if shard.name != failing]
    before = [shard.stats()["generation"] for shard in healthy]
    with pytest.raises(ShardUnavailableError, match=failing):
        index.add(ADDED)
    assert [shard.stats()["generation"] for shard in healthy] == before


def test_partial_results_only_when_allowed(pair):
    one, sharded = pair
    failing = "shard-01"
    with pytest.raises(ShardUnavailableError, match=failing):
        open_search(ShardedIndex(sharded, shards_with(sharded, failing, writes_only=False))).search("heat", 5)
    index = ShardedIndex(sharded, shards_with(sharded, failing, writes_only=False), allow_partial=True)
    result = open_search(index).search("heat transfer", 60)
    assert result.missing_shards == (failing,) and result.to_dict()["partial"] is True
    assert result.hits and all(shard_of(hit.id, 3) != 1 for hit in result.hits)
    shutil.rmtree(sharded / failing)
    with pytest.raises(ShardUnavailableError, match=failing):
        ShardedIndex(sharded)
    assert open_search(ShardedIndex(sharded, allow_partial=True)).search("heat", 5).missing_shards == (failing,)


@pytest.fixture
def client(pair):
    _, sharded = pair
    with TestClient(create_app(sharded, api_key=KEY)) as test_client:
        yield test_client


def test_api_routes_writes_and_reads_to_the_owning_shard(client, pair):
    one, _ = pair
    body = {"documents": [{"id": d.id, "title": d.title, "text": d.text} for d in ADDED]}
    written = client.post("/documents", json=body, headers=AUTH)
    assert written.status_code == 200 and written.json()["added"] == 4
    assert client.get("/documents/n2").json()["text"] == ADDED[2].text
    assert client.delete("/documents/n2", headers=AUTH).status_code == 200
    assert client.get("/documents/n2").status_code == 404
    assert client.delete("/documents/n2", headers=AUTH).status_code == 404
    single = LiveIndex(one)
    single.add(ADDED)
    single.delete(["n2"])
    expected = open_search(single).search("heat transfer glaciers", 10)
    got = client.get("/search", params={"q": "heat transfer glaciers", "k": 10}).json()
    assert [(hit["id"], hit["score"]) for hit in got["hits"]] == [(hit.id, hit.score) for hit in expected.hits]
    assert got["partial"] is False
    stats = client.get("/stats", headers=AUTH).json()
    assert stats["documents"] == LiveIndex(one).snapshot().num_docs and set(stats["shards"]) == {
        "shard-00", "shard-01", "shard-02"}
    assert client.get("/healthz").json() == {"status": "ok"}


def test_api_down_shard_is_a_503_naming_it_or_partial_results(pair):
    _, sharded = pair
    shards = shards_with(sharded, "shard-02", writes_only=False)
    with TestClient(create_app(sharded, api_key=KEY, shards=shards)) as strict:
        refused = strict.get("/search", params={"q": "heat"})
        assert refused.status_code == 503 and "shard-02" in refused.json()["error"]
        assert refused.json()["shards"] == ["shard-02"]
        assert strict.get("/healthz").status_code == 503
    with TestClient(create_app(sharded, api_key=KEY, shards=shards, allow_partial=True)) as lenient:
        answered = lenient.get("/search", params={"q": "heat transfer", "k": 20}).json()
        assert answered["partial"] is True and answered["missing_shards"] == ["shard-02"] and answered["hits"]
        owned = next(f"x{n}" for n in range(100) if shard_of(f"x{n}", 3) == 2)
        write = lenient.post("/documents", json={"documents": [{"id": owned, "text": "lost"}]}, headers=AUTH)
        assert write.status_code == 503 and "shard-02" in write.json()["error"]
        stats = lenient.get("/stats", headers=AUTH).json()
        assert stats["down"] == ["shard-02"] and stats["shards"]["shard-02"] is None


def test_feedback_is_refused_on_a_sharded_index(pair):
    from lexir.search.feedback import Feedback

    _, sharded = pair
    with pytest.raises(LexirError, match="sharded"):
        open_search(sharded, SearchOptions(prf=Feedback("rm3")))
