"""`lexir serve --ray`'s parts on a real two-node Ray cluster: the shards of a sharded index deployed with Ray
Serve behind the same FastAPI app answer exactly as the local sharded app (sparse, dense, hybrid); writes go to the
owning shard's deployment and are found after; a shard whose deployment is gone is a 503 naming it, or with
allow_partial the other shard's hits flagged partial."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from lexir.api.app import create_app
from lexir.corpus import Document
from lexir.distributed.serve import application_name, deploy_shards, undeploy_shards
from lexir.index.live import DocumentNotFoundError, LiveIndex
from lexir.index.sharded import shard_name, shard_of
from tests.distributed.conftest import RAY_TEST_CPUS
from tests.helpers import lexir, write_jsonl
from tests.texts import DOCUMENTS, QUERIES

KEY = "ray-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, minilm):
    """A BM25 index of tests/texts.py's documents in 2 shards, with a MiniLM dense side on each."""
    folder = tmp_path_factory.mktemp("ray-serve")
    source = write_jsonl(folder / "docs.jsonl", DOCUMENTS)
    lexir("index", "build", source, "--out", folder / "index", "--encoder", "bm25", "--shards", "2", "--dense",
          "minilm", "--quiet")
    return folder / "index"


@pytest.fixture
def served(ray_cluster, sharded, tmp_path):
    """(local copy, Ray copy, the Ray copy's RemoteShards), the shards deployed on the cluster for one test."""
    local, remote = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(sharded, local)
    shutil.copytree(sharded, remote)
    shards = deploy_shards(remote, ray_cluster, cpus_per_replica=RAY_TEST_CPUS, timeout_s=20.0)
    try:
        yield local, remote, shards
    finally:
        undeploy_shards(remote)


def without_timing(answer):
    return {key: value for key, value in answer.items() if key != "took_ms"}


def test_ray_served_shards_answer_as_the_local_sharded_app(served, caplog):
    local, remote, shards = served
    with TestClient(create_app(local, api_key=KEY)) as here, \
            TestClient(create_app(remote, api_key=KEY, shards=shards)) as there:
        assert "unavailable" not in caplog.text  # the warm-up reached every shard (from a thread, not the loop)
        for query in QUERIES:
            for mode in ("sparse", "dense", "hybrid"):
                params = {"q": query, "k": 10, "mode": mode}
                expected, got = here.get("/search", params=params), there.get("/search", params=params)
                assert got.status_code == 200, got.text
                assert without_timing(got.json()) == without_timing(expected.json()), (query, mode)
                assert got.json()["hits"], (query, mode)
        assert there.get("/healthz").json() == {"status": "ok"}
        stats, expected_stats = there.get("/stats", headers=AUTH).json(), here.get("/stats", headers=AUTH).json()
        assert set(stats["shards"]) == {"shard-00", "shard-01"} and stats["documents"] == len(DOCUMENTS)
        assert stats["documents"] == expected_stats["documents"] and stats["postings"] == expected_stats["postings"]

        new_id = "added-by-ray"
        body = {"documents": [{"id": new_id, "title": "Glaciers", "text": "Glaciers retreat as summers warm."}]}
        assert there.post("/documents", json=body, headers=AUTH).status_code == 200
        owner, other = shards[shard_of(new_id, 2)], shards[1 - shard_of(new_id, 2)]
        assert owner.documents([new_id])[0].text == "Glaciers retreat as summers warm."
        with pytest.raises(DocumentNotFoundError):
            other.documents([new_id])
        assert there.get("/search", params={"q": "glaciers retreat"}).json()["hits"][0]["id"] == new_id
        assert there.post("/documents", json=body, headers=AUTH).status_code == 200  # here too: same scores
        assert here.post("/documents", json=body, headers=AUTH).status_code == 200
        params = {"q": "glaciers warm summers", "k": 10}
        assert without_timing(there.get("/search", params=params).json()) == \
            without_timing(here.get("/search", params=params).json())
        assert there.delete(f"/documents/{new_id}", headers=AUTH).status_code == 200
        assert there.get(f"/documents/{new_id}").status_code == 404

        assert here.delete(f"/documents/{new_id}", headers=AUTH).status_code == 200

        # a write the front door did not make (another process, on the shard's folder; its words are new to the
        # index): the next query's one call per shard finds the shard's new commit, so the query is weighed again
        # with the new statistics and vocabulary, and still scores as one index
        outside = [Document("from-outside", "Tides", "The moon raises the tides twice a day.")]
        for index in (local, remote):
            LiveIndex(index / shard_name(shard_of("from-outside", 2))).add(outside)
        params = {"q": "moon tides twice a day", "k": 10}
        answer = there.get("/search", params=params).json()
        assert answer["hits"][0]["id"] == "from-outside"
        assert without_timing(answer) == without_timing(here.get("/search", params=params).json())


def test_a_shard_deployment_that_is_gone_is_a_503_or_partial(served):
    from ray import serve

    _, remote, shards = served
    serve.delete(application_name(remote, "shard-01"))
    with TestClient(create_app(remote, api_key=KEY, shards=shards)) as strict:
        refused = strict.get("/search", params={"q": "vitamin d"})
        assert refused.status_code == 503 and "shard-01" in refused.json()["error"], refused.text
        assert refused.json()["shards"] == ["shard-01"]
        assert strict.get("/healthz").status_code == 503
    with TestClient(create_app(remote, api_key=KEY, shards=shards, allow_partial=True)) as lenient:
        answered = lenient.get("/search", params={"q": "vitamin d calcium", "k": 10}).json()
        assert answered["partial"] is True and answered["missing_shards"] == ["shard-01"] and answered["hits"]
        assert {hit["id"] for hit in answered["hits"]} <= {
            doc_id for doc_id, _, _ in DOCUMENTS if shard_of(doc_id, 2) == 0}
