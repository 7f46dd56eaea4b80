"""The REST contract through FastAPI's TestClient (in process, real index and encoder)."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from lexir.api.app import create_app
from lexir.api.schemas import Limits
from lexir.corpus import Corpus
from lexir.index import build_index
from tests.helpers import write_jsonl

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, splade_tiny):
    folder = tmp_path_factory.mktemp("api")
    build_index(Corpus(str(write_jsonl(folder / "docs.jsonl"))), splade_tiny, folder / "index", progress=False)
    return folder / "index"


@pytest.fixture
def client(index_dir, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    limits = Limits(max_k=50, max_query_chars=200, max_batch_queries=5, max_batch_documents=3, max_text_chars=500)
    with TestClient(create_app(copy, api_key=KEY, limits=limits)) as test_client:
        yield test_client


def assert_error(response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and fragment in body["error"]


def test_search_get_and_post(client):
    got = client.get("/search", params={"q": "vitamin d fractures", "k": 3, "explain": "true", "text": "true"})
    assert got.status_code == 200
    body = got.json()
    assert [hit["rank"] for hit in body["hits"]] == [1, 2, 3] and body["took_ms"] >= 0
    first = body["hits"][0]
    assert first["id"] in {"d0", "d8"} and first["title"] and first["contributions"]["vitamin"] > 0
    posted = client.post("/search", json={"q": "vitamin d fractures", "k": 3})
    assert [h["id"] for h in posted.json()["hits"]] == [h["id"] for h in body["hits"]]
    batch = client.post("/search", json={"queries": ["heat transfer", "coffee"], "k": 2})
    assert [len(result["hits"]) for result in batch.json()] == [2, 2]


def test_bad_search_requests_are_4xx_json(client):
    assert_error(client.get("/search", params={"q": "  "}), 422, "empty")
    assert_error(client.get("/search"), 422, "q")
    assert_error(client.get("/search", params={"q": "x", "k": 0}), 422, "k")
    assert_error(client.get("/search", params={"q": "x", "k": 51}), 422, "at most 50")
    assert_error(client.post("/search", json={"q": "x", "k": 51}), 422, "at most 50")
    assert_error(client.get("/search", params={"q": "x" * 201}), 413, "characters")
    assert_error(client.get("/search", params={"q": "x", "mode": "fuzzy"}), 422, "mode")
    assert_error(client.get("/search", params={"q": "x", "mode": "dense"}), 400, "add-dense")
    assert_error(client.post("/search", content=b'{"q": "x",', headers={"content-type": "application/json"}), 422)
    assert_error(client.post("/search", json={"k": 3}), 422, "either q")
    assert_error(client.post("/search", json={"q": "x", "queries": ["y"]}), 422, "either q")
    assert_error(client.post("/search", json={"q": 5}), 422, "q")
    assert_error(client.post("/search", json={"queries": ["a"] * 6}), 413, "at most 5")
    assert_error(client.post("/search", json={"q": "x", "unknown": 1}), 422, "unknown")


def test_search_takes_the_ranking_options(client):
    exhaustive = client.get("/search", params={"q": "vitamin d and blood pressure", "k": 5,
                                               "algorithm": "exhaustive"}).json()
    for algorithm in ("maxscore", "block_max_maxscore"):
        other = client.post("/search", json={"q": "vitamin d and blood pressure", "k": 5, "algorithm": algorithm})
        assert other.json()["hits"] == exhaustive["hits"]
    cut = client.get("/search", params={"q": "vitamin d and blood pressure", "k": 5, "query_cut": 1,
                                        "explain": "true"}).json()
    assert cut["hits"] != exhaustive["hits"]
    for hit in cut["hits"]:
        assert len(hit["contributions"]) == 1 and sum(hit["contributions"].values()) == pytest.approx(hit["score"])
    assert_error(client.get("/search", params={"q": "x", "algorithm": "wand"}), 422, "algorithm")
    assert_error(client.get("/search", params={"q": "x", "heap_factor": 2}), 400, "heap factor")
    assert_error(client.get("/search", params={"q": "x", "fuse": "convex"}), 400, "two or more retrievers")
    assert_error(client.post("/search", json={"q": "x", "fusion_depth": 5000}), 422, "fusion_depth is 5000")


def test_writes_need_the_key_and_become_searchable(client):
    document = {"id": "new", "title": "Vitamin K", "text": "Vitamin K helps blood clot after a cut."}
    assert_error(client.post("/documents", json={"documents": [document]}), 401, "API key")
    assert_error(client.post("/documents", json={"documents": [document]}, headers={"X-API-Key": "wrong"}), 401)
    added = client.post("/documents", json={"documents": [document]}, headers={"X-API-Key": KEY})
    assert added.status_code == 200 and added.json()["added"] == 1
    assert client.get("/search", params={"q": "vitamin k blood clot", "k": 1}).json()["hits"][0]["id"] == "new"
    assert client.get("/documents/new").json() == document
    assert_error(client.delete("/documents/new"), 401)
    assert client.delete("/documents/new", headers=AUTH).json()["deleted"] == 1
    assert_error(client.get("/documents/new"), 404, "new")
    assert_error(client.delete("/documents/new", headers=AUTH), 404)
    stats = client.get("/stats").json()
    assert stats["documents"] == 12 and stats["segments"] == 2 and stats["deleted"] == 1
    assert stats["encoder"]["name"] == "splade-tiny" and stats["generation"] == 2


def test_write_limits_and_bad_bodies(client):
    too_many = {"documents": [{"id": str(i), "text": "x"} for i in range(4)]}
    assert_error(client.post("/documents", json=too_many, headers=AUTH), 413, "at most 3")
    too_long = {"documents": [{"id": "long", "text": "x" * 501}]}
    assert_error(client.post("/documents", json=too_long, headers=AUTH), 413, "characters")
    assert_error(client.post("/documents", json={"documents": []}, headers=AUTH), 422)
    assert_error(client.post("/documents", json={"documents": [{"title": "no id"}]}, headers=AUTH), 422, "id")
    duplicated = {"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}
    assert_error(client.post("/documents", json=duplicated, headers=AUTH), 400, "more than once")


def test_service_pages_and_documents(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    schema = client.get("/openapi.json").json()
    assert {"/search", "/documents", "/documents/{doc_id}", "/stats", "/healthz"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "http://x.test"}).headers


def test_writes_are_disabled_without_a_key_and_reads_can_require_one(index_dir, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    with TestClient(create_app(copy)) as open_client:
        assert_error(open_client.post("/documents", json={"documents": [{"id": "a"}]}), 403, "--api-key")
    with TestClient(create_app(copy, api_key=KEY, keys_for_reads=True,
                               cors_origins=["http://app.test"])) as closed:
        assert_error(closed.get("/search", params={"q": "heat"}), 401)
        assert closed.get("/search", params={"q": "heat"}, headers=AUTH).status_code == 200
        allowed = closed.get("/healthz", headers={"Origin": "http://app.test"})
        assert allowed.headers["access-control-allow-origin"] == "http://app.test"


def test_dense_and_hybrid_modes_filter_deleted_documents(dense_index, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(dense_index, copy)
    with TestClient(create_app(copy, api_key=KEY)) as client:
        for mode in ("dense", "hybrid"):
            hits = client.get("/search", params={"q": "vitamin d and bone fractures", "k": 3, "mode": mode}).json()
            assert len(hits["hits"]) == 3 and {"d0", "d8"} & {hit["id"] for hit in hits["hits"]}
        assert client.delete("/documents/d8", headers=AUTH).status_code == 200
        assert client.delete("/documents/d0", headers=AUTH).status_code == 200
        for mode in ("dense", "hybrid"):
            hits = client.get("/search", params={"q": "vitamin d and bone fractures", "k": 3, "mode": mode}).json()
            assert len(hits["hits"]) == 3 and not {"d0", "d8"} & {hit["id"] for hit in hits["hits"]}
            assert [hit["rank"] for hit in hits["hits"]] == [1, 2, 3]
        assert client.get("/stats").json()["dense"] is True
