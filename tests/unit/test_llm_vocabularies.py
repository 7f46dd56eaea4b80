"""Non-WordPiece vocabularies (byte-level BPE, SentencePiece) wherever lexir shows or splits tokens: readable
pieces (CLI explain, the search page's highlighting in JavaScript), inference-free query tokenization and
stopwords, over the tiny test models of tests/llm_models.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lexir.encoders import create_encoder
from lexir.encoders.echo import EchoSpladeEncoder
from lexir.encoders.hf import load_fast_tokenizer
from lexir.encoders.idf import text_idf_table
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.encoders.pieces import readable
from lexir.encoders.query_tokens import QueryTokenizer
from tests.conftest import skip_or_fail
from tests.helpers import lexir, write_jsonl
from tests.texts import DOCUMENTS

PAGE = Path(__file__).parents[2] / "lexir" / "api" / "static" / "index.html"
# (piece, text): WordPiece, SentencePiece (with byte fallback), byte-level BPE (é is bytes C3 A9 -> "Ã©"; 東 is
# E6 9D B1 -> "æĿ±", 0x9D being a moved byte; a lone lead byte is not text), and pieces left as they are
READABLE = [("##ing", "ing"), ("▁word", "word"), ("<0x41>", "A"), ("▁<0x41>b", "Ab"), ("<0xE6>", "<0xE6>"),
            ("Ġword", "word"), ("ĠcafÃ©", "café"), ("æĿ±äº¬", "東京"), ("ĠðŁĻĤ", "🙂"), ("Ã", "Ã"),
            ("word", "word"), ("[CLS]", "[CLS]"), ("flow.", "flow.")]


@pytest.mark.parametrize(("piece", "text"), READABLE)
def test_pieces_read_as_the_text_they_stand_for(piece, text):
    assert readable(piece) == text


def test_byte_level_pieces_of_real_text_read_back_as_the_text(llm_models):
    tokenizer = load_fast_tokenizer(str(llm_models["mistral"]))
    for word in ("café", "東京", "🙂", "naïve", "Reynolds"):
        pieces = tokenizer.encode(" " + word, add_special_tokens=False).tokens
        if len(pieces) == 1:
            assert readable(pieces[0]) == word


def test_the_search_page_highlights_words_matched_by_any_kind_of_piece():
    if shutil.which("node") is None:
        skip_or_fail("node is not installed (apt-get install nodejs): the search page's JavaScript runs in it")
    script = PAGE.read_text(encoding="utf-8").split("<script>")[1].split("async function search")[0]
    cases = [piece for piece, _ in READABLE if piece != "Ã"]
    program = script + f"""
const pieces = {json.dumps(cases, ensure_ascii=False)};
console.log(JSON.stringify({{texts: pieces.map(pieceText),
  marked: highlight("Le café de Tōkyō: 東京 word-ing 🙂", ["ĠcafÃ©", "▁word", "æĿ±äº¬"])}}));
"""
    out = json.loads(subprocess.run(["node", "-e", program], capture_output=True, text=True, check=True).stdout)
    assert out["texts"] == [text for piece, text in READABLE if piece != "Ã"]
    assert out["marked"] == "Le <mark>café</mark> de Tōkyō: <mark>東京</mark> <mark>word</mark>-ing 🙂"


@pytest.mark.parametrize("architecture", ["mistral", "llama", "bert"])
def test_query_tokens_equal_the_tokenizers_for_every_vocabulary(llm_models, architecture):
    tokenizer = load_fast_tokenizer(str(llm_models[architecture]))
    tokens = QueryTokenizer(tokenizer)
    for text in ("vitamin d", "Café crème  naïve", "東京 🙂 flow.", "  leading and trailing  ", "x\u0085y", ""):
        assert tokens(text) == tokenizer.encode(text, add_special_tokens=False).ids, text


@pytest.fixture(scope="module")
def inference_free_folder(llm_models, tmp_path_factory):
    """The tiny Mistral with an idf.json of the test corpus beside it: an inference-free LLM-vocabulary model."""
    folder = tmp_path_factory.mktemp("if-mistral") / "model"
    shutil.copytree(llm_models["mistral"], folder)
    table = text_idf_table(load_fast_tokenizer(str(folder)), [text for _, _, text in DOCUMENTS])
    (folder / "idf.json").write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
    return folder


def test_an_inference_free_llm_index_tokenizes_queries_and_drops_stopword_pieces(inference_free_folder, tmp_path):
    encoder = create_encoder(str(inference_free_folder))
    assert isinstance(encoder, InferenceFreeEncoder) and isinstance(encoder.documents, EchoSpladeEncoder)
    lexir("index", "build", write_jsonl(tmp_path / "docs.jsonl"), "--encoder", inference_free_folder, "--out",
          tmp_path / "index", "--quiet")
    query = "the boundary layer of the plate"

    def matched(*options: str) -> set[str]:
        hits = lexir("search", tmp_path / "index", query, "--explain", "--json", *options).json()["hits"]
        return {term for hit in hits for term in hit["contributions"]}

    every, kept = matched(), matched("--query-option", "drop_stopwords=true")
    assert {readable(term) for term in every} >= {"the", "boundary"}
    assert "the" not in {readable(term) for term in kept} and kept
    assert all(term in encoder.vocabulary for term in every)


def test_cli_explain_shows_pieces_as_text(llm_models, tmp_path):
    lexir("index", "build", write_jsonl(tmp_path / "docs.jsonl"), "--encoder", llm_models["llama"], "--out",
          tmp_path / "index", "--quiet")
    table = lexir("search", tmp_path / "index", "supersonic flow", "--explain", "-k", "1").stdout
    assert "▁" not in table and "matched terms" in table


def test_registered_llm_checkpoints_fail_fast_and_clearly_offline(tmp_path):
    """The hub names of issue #20's checkpoints load as any hub model: here, with no network and an empty cache,
    one clear error naming the hub id and the local-folder alternative, at once."""
    import os
    import sys

    script = """
import json
from lexir.encoders import create_encoder
from lexir.errors import LexirError
for name, side in (("disco-human", "queries"), ("disco-human-mistral", "queries"),
                   ("promptreps-qwen2.5-0.5b", "documents"), ("promptreps-llama3-8b", "queries")):
    try:
        getattr(create_encoder(name), "encode_" + side)(["x"])
    except LexirError as error:
        print(json.dumps([name, str(error)]))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    errors = dict(json.loads(line) for line in done.stdout.splitlines())
    hub_ids = {"disco-human": "slupart/splade-disco-human", "disco-human-mistral": "slupart/splade-disco-human-mistral",
               "promptreps-qwen2.5-0.5b": "Qwen/Qwen2.5-0.5B-Instruct",
               "promptreps-llama3-8b": "meta-llama/Meta-Llama-3-8B-Instruct"}
    assert set(errors) == set(hub_ids), done.stderr[-2000:]
    for name, hub_id in hub_ids.items():
        assert f"'{hub_id}'" in errors[name] and "--encoder /path/to/DIR" in errors[name]
