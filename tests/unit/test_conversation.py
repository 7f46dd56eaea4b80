"""Conversational queries (DiSCo): the flattening against the definition worked by hand, the history cap, the
separator of the searched encoder, and the three faces: `lexir search --history`, POST /search {"conversation"},
`lexir eval` on a BEIR folder whose queries carry a history; an asymmetric SPLADE (`query_model`) as DiSCo's
checkpoints are (tiny random BERT models)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lexir.api.app import create_app
from lexir.encoders import create_encoder
from lexir.encoders.splade import SpladeEncoder
from lexir.errors import LexirError
from lexir.eval.datasets import load_dataset
from lexir.eval.runner import evaluate
from lexir.search import open_search
from lexir.search.conversation import Turn, flatten, parse_conversation, separator_of
from tests.helpers import assert_one_line_error, lexir, write_jsonl
from tests.texts import DOCUMENTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# the DiSCo model card's example conversation: (question, answer) pairs, the last question unanswered
PAIRS = [("what's the weather like today?", "it's sunny."), ("should I wear sunscreen?", "yes, UV index is high."),
         ("do I need sunglasses?", "definitely."), ("where can I buy sunglasses?", "try the optician nearby.")]
QUESTION = "how much do they cost?"
TURNS = [Turn(role, text) for question, answer in PAIRS for role, text in (("user", question), ("assistant", answer))]
CONVERSATION = [*TURNS, Turn("user", QUESTION)]


def test_flattening_is_the_question_then_earlier_turns_newest_first():
    """q_n [SEP] a_{n-1} [SEP] q_{n-1} [SEP] ... [SEP] a_0 [SEP] q_0, written out for the example."""
    assert flatten(CONVERSATION, "[SEP]") == (
        "how much do they cost? [SEP] try the optician nearby. [SEP] where can I buy sunglasses? [SEP] definitely. "
        "[SEP] do I need sunglasses? [SEP] yes, UV index is high. [SEP] should I wear sunscreen? [SEP] it's sunny. "
        "[SEP] what's the weather like today?")


def test_the_history_cap_keeps_the_newest_turns_and_empty_turns_are_left_out():
    assert flatten(CONVERSATION, "[SEP]", max_history=3) == (
        "how much do they cost? [SEP] try the optician nearby. [SEP] where can I buy sunglasses? [SEP] definitely.")
    assert flatten(CONVERSATION, "[SEP]", max_history=0) == QUESTION
    gaps = [Turn("user", "first?"), Turn("assistant", " "), Turn("user", "second?")]
    assert flatten(gaps, "") == "second?\nfirst?"


@pytest.mark.parametrize(("data", "fragment"), [
    ({"role": "user"}, "must be a JSON list"),
    ([{"role": "system", "text": "x"}], "turn 1 needs a role"),
    ([{"role": "user", "text": 3}], "turn 1 needs a role"),
    ([{"role": "user", "text": "x", "extra": 1}], "exactly \"role\" and \"text\""),
])
def test_bad_conversations_are_one_line_errors(data, fragment):
    with pytest.raises(LexirError, match=fragment):
        parse_conversation(data)


def test_a_conversation_must_end_with_the_users_question():
    with pytest.raises(LexirError, match="last turn must be a non-empty user turn"):
        flatten(TURNS, "[SEP]")
    with pytest.raises(LexirError, match="last turn must be a non-empty user turn"):
        flatten([], "[SEP]")


@pytest.fixture(scope="module")
def conversational(llm_models, tmp_path_factory):
    """A SPLADE index over the tiny BERT (DiSCo's shape), and a BEIR folder whose queries carry histories."""
    folder = tmp_path_factory.mktemp("conversation")
    beir = folder / "beir"
    (beir / "qrels").mkdir(parents=True)
    write_jsonl(beir / "corpus.jsonl")
    queries = [{"_id": "c1", "text": QUESTION, "history": [{"role": t.role, "text": t.text} for t in TURNS]},
               {"_id": "c2", "text": "and at high Reynolds numbers?",
                "history": [{"role": "user", "text": "what is a boundary layer?"}]},
               {"_id": "p1", "text": "vitamin d and calcium"}]
    (beir / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nc1\td0\t1\nc2\td4\t1\np1\td8\t1\n",
                                             encoding="utf-8")
    lexir("index", "build", beir, "--encoder", llm_models["bert"], "--out", folder / "index", "--quiet")
    return folder / "index", beir


def test_the_separator_is_the_searched_tokenizers(conversational, tmp_path):
    index, _ = conversational
    assert separator_of(open_search(index)) == "[SEP]"
    lexir("index", "build", write_jsonl(tmp_path / "docs.jsonl"), "--encoder", "bm25", "--out", tmp_path / "bm25",
          "--quiet")
    assert separator_of(open_search(tmp_path / "bm25")) == ""


def test_search_history_is_the_flattened_text_searched(conversational, tmp_path):
    index, _ = conversational
    (tmp_path / "all.json").write_text(json.dumps([{"role": t.role, "text": t.text} for t in CONVERSATION]))
    (tmp_path / "earlier.json").write_text(json.dumps([{"role": t.role, "text": t.text} for t in TURNS]))
    expected = lexir("search", index, flatten(CONVERSATION, "[SEP]", 4), "--json").json()
    whole = lexir("search", index, "--history", tmp_path / "all.json", "--history-turns", "4", "--json").json()
    asked = lexir("search", index, QUESTION, "--history", tmp_path / "earlier.json", "--history-turns", "4",
                  "--json").json()
    assert whole["hits"] == expected["hits"] == asked["hits"] and expected["hits"]
    assert_one_line_error(lexir("search", index, "--history", tmp_path / "earlier.json", check=False),
                          "last turn must be a non-empty user turn")
    (tmp_path / "bad.json").write_text("[{")
    assert_one_line_error(lexir("search", index, "--history", tmp_path / "bad.json", check=False), "is not JSON")


def test_post_search_takes_a_conversation(conversational, tmp_path):
    index, _ = conversational
    with TestClient(create_app(index)) as client:
        conversation = [{"role": t.role, "text": t.text} for t in CONVERSATION]
        answered = client.post("/search", json={"conversation": conversation, "max_history": 2, "k": 5})
        plain = client.post("/search", json={"q": flatten(CONVERSATION, "[SEP]", 2), "k": 5})
        assert answered.status_code == 200 and answered.json()["hits"] == plain.json()["hits"]
        assert answered.json()["query"] == flatten(CONVERSATION, "[SEP]", 2)
        ending_with_an_answer = client.post("/search", json={"conversation": conversation[:-1]})
        assert ending_with_an_answer.status_code in (400, 422) and "user turn" in ending_with_an_answer.json()["error"]
        both = client.post("/search", json={"q": "x", "conversation": conversation})
        assert both.status_code == 422
        bad_role = client.post("/search", json={"conversation": [{"role": "system", "text": "x"}]})
        assert bad_role.status_code == 422


def test_eval_searches_conversational_topics_flattened(conversational):
    index, beir = conversational
    dataset = load_dataset(str(beir))
    assert [len(topic.history) for topic in dataset.topics] == [8, 1, 0]
    result = evaluate(dataset, index=index, progress=False, max_history=5)
    searcher = open_search(index)
    for topic in dataset.topics:
        text = flatten([*topic.history, Turn("user", topic.text)], "[SEP]", 5)
        expected = [(hit.id, hit.score) for hit in searcher.search(text, k=100).hits if hit.id != topic.query_id]
        assert [doc for doc, _ in result.run[topic.query_id]] == [doc for doc, _ in expected]
    eval_cli = lexir("eval", "run", beir, "--index", index, "--history-turns", "5", "--no-progress")
    assert "nDCG@10" in eval_cli.stdout or "ndcg" in eval_cli.stdout.lower()


def test_a_bad_history_in_queries_jsonl_is_one_line_error(tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    write_jsonl(beir / "corpus.jsonl", DOCUMENTS[:2])
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "x", "history": "not turns"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("q\td0\t1\n")
    with pytest.raises(LexirError, match="queries.jsonl:1: history must be a JSON list"):
        load_dataset(str(beir))


def test_an_asymmetric_splade_encodes_queries_with_its_query_model(llm_models, tmp_path):
    """DiSCo's checkpoints are query encoders over SPLADE++ documents: `query_model` (a query-side option)."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    documents, queries = str(llm_models["bert"]), str(tmp_path / "bert-queries")
    model = AutoModelForMaskedLM.from_pretrained(documents)
    torch.manual_seed(1)
    with torch.no_grad():  # another checkpoint of the same architecture and tokenizer: a "fine-tuned" query side
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model.save_pretrained(queries)
    AutoTokenizer.from_pretrained(documents).save_pretrained(queries)
    asymmetric = create_encoder(documents, query_model=queries)
    texts = ["how much do sunglasses cost? [SEP] try the optician"]
    np.testing.assert_array_equal(asymmetric.encode_queries(texts).toarray(),
                                  SpladeEncoder(queries).encode_queries(texts).toarray())
    assert not np.array_equal(asymmetric.encode_queries(texts).toarray(),
                              SpladeEncoder(documents).encode_queries(texts).toarray())
    np.testing.assert_array_equal(asymmetric.encode_documents(texts).toarray(),
                                  SpladeEncoder(documents).encode_documents(texts).toarray())
    assert asymmetric.spec == create_encoder(documents).spec  # documents unchanged: the same index serves both
    with pytest.raises(LexirError, match="another vocabulary"):
        create_encoder(documents, query_model=str(llm_models["llama"])).encode_queries(["x"])
