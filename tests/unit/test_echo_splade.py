"""Causal-LM SPLADE with echo pooling (Mistral-SPLADE) on tiny random Mistral and Llama models: the pooling against
the paper's definition worked by hand, detection of causal folders, and build / search / explain / export with
byte-level BPE and SentencePiece-style vocabularies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lexir.encoders import create_encoder
from lexir.encoders.echo import EchoSpladeEncoder
from lexir.encoders.registry import encoder_from_spec
from lexir.encoders.splade import SpladeEncoder
from lexir.eval.datasets import load_dataset
from lexir.eval.runner import evaluate
from lexir.export import export_index
from lexir.index.reader import InvertedIndex
from lexir.search import open_search
from tests.helpers import lexir, write_beir_folder, write_jsonl
from tests.texts import DOCUMENTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def by_hand(folder, text: str, prefix: str = "", infix: str = "") -> np.ndarray:
    """The paper's definition computed directly: the LM's logits over [BOS] prefix x infix x, log(1 + relu), max
    over the positions of the second x."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()

    def ids(part: str) -> list[int]:
        return tokenizer(part, add_special_tokens=False)["input_ids"] if part else []

    first = [tokenizer.bos_token_id] + ids(prefix) + ids(text) + ids(infix)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([first + ids(text)])).logits[0]
    second = logits[len(first):]
    return torch.log1p(torch.relu(second)).amax(dim=0).numpy()


@pytest.mark.parametrize("architecture", ["mistral", "llama"])
def test_echo_pooling_is_the_max_over_the_second_copy(llm_models, architecture):
    encoder = create_encoder(str(llm_models[architecture]), batch_size=3)
    texts = ["Green tea contains catechins.", "", "Shock waves form on a cone in supersonic flow over the wing.",
             "Café crème 🙂", "sleep"]
    rows = encoder.encode_documents(texts).toarray()  # one batch of mixed lengths, right-padded, and an empty text
    for text, row in zip(texts, rows):
        if text:
            np.testing.assert_allclose(row, by_hand(llm_models[architecture], text), rtol=1e-5, atol=1e-5)
        else:
            assert not row.any()


def test_the_second_copy_sees_the_whole_text_and_the_first_does_not(llm_models):
    """Why echo: with causal attention, the first copy's first token is blind to a change at the end of the text,
    the second copy's first token is not."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = llm_models["mistral"]
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    logits = []
    for text in ("heat transfer in laminar flow", "heat transfer in turbulent flow"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([[tokenizer.bos_token_id] + ids + ids])).logits[0]
        logits.append((out[1], out[1 + len(ids)]))
    torch.testing.assert_close(logits[0][0], logits[1][0])
    assert not torch.allclose(logits[0][1], logits[1][1])


def test_prefix_and_infix_wrap_the_copies_and_are_recorded_in_the_spec(llm_models):
    folder = str(llm_models["llama"])
    encoder = create_encoder(folder, echo_prefix="Rewrite the sentence: ", echo_infix=", rewritten sentence: ")
    text = "vitamin d and calcium"
    [(ids, start, end)] = encoder.echo_inputs([text], 64)
    own = encoder.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[start:end] == own and ids[start - len(own) - 5:start] != own and ids[0] == encoder.tokenizer.bos_token_id
    np.testing.assert_allclose(encoder.encode_queries([text]).toarray()[0],
                               by_hand(folder, text, "Rewrite the sentence: ", ", rewritten sentence: "),
                               rtol=1e-5, atol=1e-5)
    rebuilt = encoder_from_spec(encoder.spec)
    assert isinstance(rebuilt, EchoSpladeEncoder) and rebuilt.spec == encoder.spec
    assert encoder.spec.params["echo_infix"] == ", rewritten sentence: "
    assert encoder.spec.differences(create_encoder(folder).spec) == ["params"]


def test_causal_folders_are_encoded_with_echo_and_masked_ones_as_before(llm_models):
    assert type(create_encoder(str(llm_models["mistral"]))) is EchoSpladeEncoder
    assert type(create_encoder(str(llm_models["llama"]))) is EchoSpladeEncoder
    assert type(create_encoder(str(llm_models["bert"]))) is SpladeEncoder
    mistral = create_encoder(str(llm_models["mistral"]))
    assert mistral.spec.kind == "echo-splade" and any(token.startswith("Ġ") for token in mistral.vocabulary)
    assert any(token.startswith("▁") for token in create_encoder(str(llm_models["llama"])).vocabulary)


@pytest.fixture(scope="module", params=["mistral", "llama"])
def echo_index(request, llm_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"echo-{request.param}")
    source = write_jsonl(folder / "docs.jsonl")
    lexir("index", "build", source, "--encoder", llm_models[request.param], "--out", folder / "index", "--quiet",
          "--batch-size", "4")
    return request.param, llm_models[request.param], folder / "index"


def test_search_and_explain_report_the_llm_vocabulary_tokens(echo_index):
    _, model, index = echo_index
    vocabulary = set(create_encoder(str(model)).vocabulary)
    result = lexir("search", index, "calcium and vitamin D supplements", "--explain", "--json", "-k", "3").json()
    assert len(result["hits"]) == 3
    for hit in result["hits"]:
        assert set(hit["contributions"]) <= vocabulary
        assert hit["score"] == pytest.approx(sum(hit["contributions"].values()), rel=1e-4)
    assert InvertedIndex(index).manifest.encoder.kind == "echo-splade"


def test_jsonvector_and_ciff_exports_build_back_into_an_index_that_answers_alike(echo_index, tmp_path):
    """The LLM's tokens ("Ġword", "▁word", byte pieces) travel through both formats: an index built back from
    either, with the model as query encoder, holds the same postings and ranks a query the same."""
    name, model, index = echo_index
    query = "boundary layer heat transfer"
    expected = lexir("search", index, query, "--json", "-k", "5").json()["hits"]
    original = InvertedIndex(index)
    tokens = original.load_encoder().vocabulary
    for fmt, out in (("jsonvector", tmp_path / "v.jsonl"), ("ciff", tmp_path / "v.ciff")):
        export_index(index, fmt, out, progress=False)
        lexir("index", "build", out, "--query-encoder", model, "--out", tmp_path / fmt, "--quiet")
        back = InvertedIndex(tmp_path / fmt)
        assert back.manifest.num_postings == original.manifest.num_postings
        for term in np.flatnonzero(original.doc_freq)[:50]:
            docs, _ = original.postings(term)
            back_docs, _ = back.postings(back.load_encoder().vocabulary.index(tokens[term]))
            np.testing.assert_array_equal(back_docs, docs)
        hits = lexir("search", tmp_path / fmt, query, "--json", "-k", "5").json()["hits"]
        assert [hit["id"] for hit in hits] == [hit["id"] for hit in expected], (name, fmt)


def test_opensearch_export_writes_the_llm_tokens_as_rank_features(echo_index, tmp_path):
    _, model, index = echo_index
    export_index(index, "opensearch", tmp_path / "os", progress=False)
    lines = (tmp_path / "os" / "bulk.ndjson").read_text(encoding="utf-8").splitlines()
    vocabulary = set(create_encoder(str(model)).vocabulary)
    documents = [json.loads(line) for line in lines[1::2]]
    assert len(documents) == len(DOCUMENTS)
    assert all(set(document["embedding"]) <= vocabulary for document in documents)


def test_eval_ranks_each_topic_as_the_echo_encoder_searches_it(echo_index, tmp_path):
    _, _, index = echo_index
    judged = {"q1": ("does vitamin d prevent fractures", {"d8": 2, "d0": 1}),
              "q2": ("turbulent boundary layer heat transfer", {"d4": 1, "d11": 1})}
    result = evaluate(load_dataset(str(write_beir_folder(tmp_path / "beir", {"test": judged}))), index=index,
                      progress=False)
    searcher = open_search(index)
    for query_id, (text, _) in judged.items():
        assert [doc for doc, _ in result.run[query_id]] == [hit.id for hit in searcher.search(text, k=100).hits]
    assert 0.0 <= result.measures["nDCG@10"] <= 1.0
