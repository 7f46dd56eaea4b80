"""The command line on bad input: one-line errors, non-zero exits, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import write_jsonl
from tests.texts import DOCUMENTS

LEXIR = [sys.executable, "-m", "lexir"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LEXIR, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    source = write_jsonl(folder / "docs.jsonl")
    result = run("index", "build", str(source), "--out", str(folder / "index"), "--encoder", "bm25", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "indexed 12 documents" in result.stderr and "docs/s" in result.stderr
    return folder / "index"


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and fragment in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_search_json_output(bm25_index):
    result = run("search", str(bm25_index), "vitamin d and blood pressure", "-k", "3", "--json", "--explain")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["query"] == "vitamin d and blood pressure"
    assert [hit["rank"] for hit in payload["hits"]] == [1, 2, 3]
    assert payload["hits"][0]["id"] in {"d0", "d8", "d6", "d9"} and "contributions" in payload["hits"][0]
    assert payload["took_ms"] >= 0


def test_search_table_and_info(bm25_index):
    table = run("search", str(bm25_index), "boundary layer", "--explain")
    assert table.returncode == 0 and "d4" in table.stdout
    info = run("index", "info", str(bm25_index), "--json")
    assert json.loads(info.stdout)["num_docs"] == len(DOCUMENTS)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("index", "build", "/no/such/file.jsonl", "--out", "/tmp/x", "--encoder", "bm25"), "neither a file"),
        (("search", "/no/such/index", "query"), "does not exist"),
    ],
)
def test_missing_paths(args, fragment):
    assert_one_line_error(run(*args), fragment)


def test_bad_inputs(tmp_path, bm25_index):
    assert_one_line_error(run("search", str(bm25_index), "  "), "query is empty")
    assert_one_line_error(run("search", str(bm25_index), "heat", "-k", "0"), "positive")
    source = write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS[:2])
    with open(source, "a") as handle:
        handle.write("{broken\n")
    assert_one_line_error(run("index", "build", str(source), "--out", str(tmp_path / "i"), "--encoder", "bm25"),
                          "docs.jsonl:3")
    skipped = run("index", "build", str(source), "--out", str(tmp_path / "i"), "--encoder", "bm25",
                  "--skip-bad-lines", "--quiet")
    assert skipped.returncode == 0 and "skipped 1 bad line: 1 malformed JSON" in skipped.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_one_line_error(run("index", "build", str(empty), "--out", str(tmp_path / "e"), "--encoder", "bm25"),
                          "empty corpus")
    assert_one_line_error(run("index", "build", str(source), "--out", str(tmp_path / "m"), "--encoder",
                              str(tmp_path / "no-model")), "")
    assert_one_line_error(run("index", "build", str(source), "--out", str(bm25_index), "--encoder", "bm25"),
                          "--overwrite")


def test_unknown_hub_model_fails_fast_with_the_local_alternative(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS[:2])
    result = subprocess.run([*LEXIR, "index", "build", str(source), "--out", str(tmp_path / "i"), "--encoder",
                             "splade-v3"], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert_one_line_error(result, "naver/splade-v3")
    assert "/path/to/DIR" in result.stderr
