"""The service for real: a `lexir serve` subprocess over HTTP, schemathesis over the OpenAPI document,
and the search page in headless Chromium (with a screenshot kept under test-artifacts/)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.index import build_index
from tests.api_helpers import running_server, serving_pid
from tests.conftest import skip_or_fail
from tests.helpers import write_jsonl

KEY = "serve-test-key"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def splade_index(tmp_path_factory, splade_tiny):
    folder = tmp_path_factory.mktemp("serve")
    build_index(Corpus(str(write_jsonl(folder / "docs.jsonl"))), splade_tiny, folder / "index", progress=False)
    return folder / "index"


@pytest.mark.integration
def test_real_server_over_http(splade_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(splade_index, index)
    with running_server(index, api_key=KEY) as url:
        found = httpx.get(f"{url}/search", params={"q": "boundary layer heat transfer", "k": 2}).json()
        assert found["hits"][0]["id"] in {"d4", "d11"}
        document = {"id": "live-1", "title": "Icing on wings", "text": "Ice on a wing's leading edge cuts lift."}
        refused = httpx.post(f"{url}/documents", json={"documents": [document]})
        assert refused.status_code == 401 and "error" in refused.json()
        added = httpx.post(f"{url}/documents", json={"documents": [document]},
                           headers={"Authorization": f"Bearer {KEY}"})
        assert added.status_code == 200
        hits = httpx.get(f"{url}/search", params={"q": "ice on the leading edge of a wing", "k": 1}).json()["hits"]
        assert hits[0]["id"] == "live-1"
        assert httpx.get(f"{url}/stats", headers={"X-API-Key": KEY}).json()["segments"] == 2
        assert httpx.post(f"{url}/search", content=b"{not json", headers={"content-type": "application/json"}
                          ).status_code == 422


@pytest.mark.integration
def test_schemathesis_finds_no_server_errors(tmp_path):
    """Every operation of /openapi.json, with generated (valid and invalid) requests: never a 5xx."""
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    with running_server(tmp_path / "index", api_key=KEY) as url:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json", "--checks",
             "not_a_server_error", "--max-examples", "40", "--seed", "7", "--workers", "1",
             "--header", f"X-API-Key: {KEY}"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts and int(counts.group(2)) >= 100, run.stdout[-2000:]  # the checks really ran


@pytest.mark.integration
def test_search_page_in_headless_chromium(splade_index, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "search-page.png"
    screenshot.unlink(missing_ok=True)
    with running_server(splade_index) as url:
        page = f"{url}/?q=vitamin+d+fractures&mode=sparse"
        common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=8000"]
        dom = subprocess.run([*common, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([*common, f"--screenshot={screenshot}", "--window-size=1100,900", page],
                       capture_output=True, timeout=120)
    assert 'class="hit"' in dom and "<mark>Vitamin</mark>" in dom
    assert "hits in" in dom
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000


@pytest.mark.integration
def test_several_workers_see_each_others_writes(splade_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(splade_index, index)
    with running_server(index, "--workers", "2", api_key=KEY) as url:
        document = {"id": "zebra", "text": "zebra quagga stripes on the savanna"}
        assert httpx.post(f"{url}/documents", json={"documents": [document]},
                          headers={"X-API-Key": KEY}).status_code == 200
        answered: set[int] = set()
        for attempt in range(60):  # new connections, until both worker processes have answered (and searched)
            pid = serving_pid(url, "/search?q=zebra+quagga+stripes&k=1")
            answered.add(pid)
            with httpx.Client() as fresh:
                hits = fresh.get(f"{url}/search", params={"q": "zebra quagga stripes", "k": 1}).json()["hits"]
                assert hits[0]["id"] == "zebra"
            if len(answered) == 2 and attempt >= 7:
                break
        assert len(answered) == 2 and url.pid not in answered, answered  # two workers, neither the supervisor


@pytest.mark.integration
def test_serve_options_on_the_command_line(tmp_path):
    """--api-key, --keys-for-reads and --cors-origin given as options (no LEXIR_API_KEY in the environment)."""
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    allowed, other = "http://allowed.example", "http://other.example"
    document = {"documents": [{"id": "n1", "title": "Icing", "text": "Ice on a wing's leading edge cuts lift."}]}
    with running_server(tmp_path / "index", "--api-key", KEY, "--keys-for-reads", "--cors-origin", allowed) as url:
        search = f"{url}/search?q=boundary+layer&k=2"
        assert httpx.get(search).status_code == 401
        assert httpx.get(search, headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.get(f"{url}/stats").status_code == 401 and httpx.get(f"{url}/documents/d4").status_code == 401
        found = httpx.get(search, headers={"Authorization": f"Bearer {KEY}", "Origin": allowed})
        assert found.status_code == 200 and found.json()["hits"][0]["id"] in {"d4", "d11"}
        assert found.headers["access-control-allow-origin"] == allowed
        foreign = httpx.get(search, headers={"X-API-Key": KEY, "Origin": other})
        assert foreign.status_code == 200 and "access-control-allow-origin" not in foreign.headers
        preflight = httpx.options(f"{url}/documents", headers={
            "Origin": allowed, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert httpx.post(f"{url}/documents", json=document).status_code == 401
        assert httpx.post(f"{url}/documents", json=document, headers={"X-API-Key": KEY}).status_code == 200
    with running_server(tmp_path / "index") as url:  # no options: reads open, writes disabled, no CORS
        assert "n1" in {hit["id"] for hit in httpx.get(f"{url}/search?q=wing+lift&k=3").json()["hits"]}
        refused = httpx.post(f"{url}/documents", json=document, headers={"X-API-Key": KEY})
        assert refused.status_code == 403 and "--api-key" in refused.json()["error"]
        plain = httpx.get(f"{url}/search?q=wing", headers={"Origin": allowed})
        assert "access-control-allow-origin" not in plain.headers


def page_dom(chromium: str, page: str, profile: Path, screenshot: Path | None = None) -> str:
    common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000"]
    dom = subprocess.run([*common, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    if screenshot is not None:
        subprocess.run([*common, f"--screenshot={screenshot}", "--window-size=1100,900", page],
                       capture_output=True, timeout=120)
    return dom


@pytest.mark.integration
def test_search_page_in_dense_and_hybrid_modes(dense_index, tmp_path):
    """The page's hits in each mode are the API's hits in that mode (no word of the query is in its best hit)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    query = "nap and learning"
    with running_server(dense_index) as url:
        expected = {mode: [hit["id"] for hit in httpx.get(f"{url}/search", params={"q": query, "mode": mode}).json()[
            "hits"]] for mode in ("sparse", "dense", "hybrid")}
        doms = {mode: page_dom(chromium, f"{url}/?q={query.replace(' ', '+')}&mode={mode}", tmp_path / mode)
                for mode in ("dense", "hybrid")}
    assert expected["sparse"] == [] and expected["dense"][0] == "d5" and expected["hybrid"][0] == "d5"
    for mode, dom in doms.items():
        results = dom.split('<div id="results">', 1)[1].split("<script>", 1)[0]
        shown = re.findall(r'<div class="meta">([^<\s]+) ·', results)
        assert shown == expected[mode], (mode, shown)
        assert f"{len(expected[mode])} hits in" in dom and "<mark>" not in results  # only sparse hits highlight
        assert "Sleep and memory" in results


def synthetic_documents(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """`count` documents of 30 words drawn from tests/texts.py's documents (a BM25 index of a few thousand)."""
    import numpy as np

    from tests.texts import DOCUMENTS

    text = " ".join(f"{title} {body}" for _, title, body in DOCUMENTS)
    words = sorted({word.strip(".,;:'\"()").lower() for word in text.split()} - {""})
    rng = np.random.default_rng(seed)
    return [(f"s{i}", "", " ".join(rng.choice(words, 30))) for i in range(count)]


def load_benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location("load_benchmark", Path(__file__).resolve().parents[2]
                                                  / "benchmarks" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_short_load_has_no_errors(tmp_path):
    """benchmarks/load.py in short (docs/benchmarks.md has the full run): 16 clients for 10 s, one request in 20
    a write, against a live BM25 index: not one error (no 5xx, no reset), and every write acknowledged is there."""
    from tests.texts import DOCUMENTS

    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl", synthetic_documents(3000)))), create_encoder("bm25"),
                tmp_path / "index", progress=False)
    queries = [query for _, title, text in DOCUMENTS for query in (title, text) if query.strip()]
    report = load_benchmark().run_load(tmp_path / "index", queries, clients=16, seconds=10, write_every=20)
    assert report.errors == [], "\n".join(report.lines())
    assert not report.server_errors, "\n".join(report.lines())
    searches, writes = len(report.latencies["search"]), len(report.latencies["write"])
    assert searches > 100 and writes > 5, "\n".join(report.lines())
    assert report.stats["documents"] == 3000 + writes


@pytest.mark.integration
def test_limits_hold_over_real_sockets(tmp_path):
    """A 100 MB body streamed at a real server: refused (401 without the key, 413 with it) without being read, and
    the server's memory does not grow; ids with '%', '/', spaces and unicode are fetched and deleted by path."""
    from urllib.parse import quote

    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)

    def rss_mb(pid: int) -> int:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) // 1024

    def body(total: int = 100 << 20, chunk: int = 1 << 20):
        piece = b'{"documents": [{"id": "a", "text": "' + b"x" * chunk
        for _ in range(total // len(piece) + 1):
            yield piece

    with running_server(tmp_path / "index", api_key=KEY) as url:
        before = rss_mb(url.pid)
        for headers, status in (({}, 401), ({"X-API-Key": KEY}, 413)):
            response = httpx.post(f"{url}/documents", content=body(), timeout=60,
                                  headers={"content-type": "application/json", **headers})
            assert response.status_code == status and "error" in response.json()
        assert rss_mb(url.pid) - before < 30
        for doc_id in ("100%", "a%2Fb", "a/b", "/", "with space", "naïve ☃"):
            document = {"id": doc_id, "title": "", "text": "an odd id"}
            assert httpx.post(f"{url}/documents", json={"documents": [document]},
                              headers={"X-API-Key": KEY}).status_code == 200
            path = f"{url}/documents/{quote(doc_id, safe='')}"
            assert httpx.get(path).json() == document
            assert httpx.delete(path, headers={"X-API-Key": KEY}).json()["deleted"] == 1
            assert httpx.get(f"{url}/documents", params={"id": doc_id}).status_code == 404


@pytest.mark.integration
def test_key_file_and_body_limit_flags(tmp_path):
    """--api-key-file keeps the key out of the command line (ps); --max-request-bytes caps bodies; --api-key on the
    command line works but warns; /stats needs the key."""
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"{KEY}\n")
    log = tmp_path / "serve.log"
    with running_server(tmp_path / "index", "--api-key-file", str(key_file), "--max-request-bytes", "2048",
                        log=log) as url:
        command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in [url.pid]]
        assert all(KEY.encode() not in line for line in command_lines)
        small = {"documents": [{"id": "k1", "text": "a key from a file"}]}
        assert httpx.post(f"{url}/documents", json=small, headers={"X-API-Key": KEY}).status_code == 200
        large = {"documents": [{"id": "k2", "text": "x" * 3000}]}
        refused = httpx.post(f"{url}/documents", json=large, headers={"X-API-Key": KEY})
        assert refused.status_code == 413 and "2,048 bytes" in refused.json()["error"]
        assert httpx.get(f"{url}/stats").status_code == 401
        assert httpx.get(f"{url}/stats", headers={"X-API-Key": KEY}).json()["documents"] == 13
    assert "warning" not in log.read_text()
    with running_server(tmp_path / "index", "--api-key", KEY, log=log) as url:
        assert httpx.get(f"{url}/stats", headers={"X-API-Key": KEY}).status_code == 200
    assert "visible to other users" in log.read_text()
