"""PromptReps on tiny random Mistral (no chat template: plain prompt) and Llama (a chat template) models: both
sides against the paper's definition worked by hand, one model pass per document and per hybrid query, and the
build / hybrid search / explain path through the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from lexir.encoders import create_encoder
from lexir.encoders.promptreps import (
    ANSWER_PREFIX,
    SYSTEM_PROMPT,
    PromptRepsDense,
    PromptRepsEncoder,
    shared_model,
)
from lexir.encoders.registry import create_dense_encoder, dense_encoder_from_spec, encoder_from_spec
from lexir.eval.datasets import load_dataset
from lexir.eval.runner import evaluate
from lexir.index.dense import has_dense, read_dense_manifest
from lexir.index.reader import InvertedIndex
from lexir.search import SearchOptions
from tests.helpers import assert_one_line_error, lexir, write_beir_folder, write_jsonl
from tests.llm_models import CHAT_TEMPLATE
from tests.texts import DOCUMENTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def by_hand(folder, text: str, role: str) -> tuple[np.ndarray, np.ndarray]:
    """The paper's recipe written out: the prompt (through the chat template when there is one), one forward
    pass, the last position's logits -> log(1 + relu) on the text's own tokens, its last hidden state / norm."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    kind, what = ("Passage", "passage") if role == "doc" else ("Query", "query")
    user = (f'{kind}: "{text}". Use one most important word to represent the {what} in retrieval task. '
            "Make sure your word is in lowercase.")
    if tokenizer.chat_template:
        assert tokenizer.chat_template == CHAT_TEMPLATE
        prompt = f"<s><|system|>\n{SYSTEM_PROMPT}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n{ANSWER_PREFIX}"
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    else:
        prompt = f"{SYSTEM_PROMPT}\n\n{user}\n\n{ANSWER_PREFIX}"
        ids = [tokenizer.bos_token_id] + tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    weights = torch.log1p(torch.relu(out.logits[0, -1])).numpy()
    own = {i for form in (text, text.lower()) for i in tokenizer(form, add_special_tokens=False)["input_ids"]}
    sparse = np.zeros_like(weights)
    sparse[sorted(own)] = weights[sorted(own)]
    hidden = out.hidden_states[-1][0, -1]
    return sparse, (hidden / hidden.norm()).numpy()


@pytest.mark.parametrize("architecture", ["mistral", "llama"])
def test_both_sides_follow_the_paper_for_documents_and_queries(llm_models, architecture):
    folder = llm_models[architecture]
    sparse = create_encoder(f"promptreps:{folder}", batch_size=2)
    dense = sparse.dense_side()
    texts = ["Green tea contains catechins.", "Shock waves form on a cone in Supersonic flow.", "sleep"]
    documents, vectors = sparse.encode_documents(texts).toarray(), dense.encode_documents(texts)
    queries, query_vectors = sparse.encode_queries(texts).toarray(), dense.encode_queries(texts)
    for i, text in enumerate(texts):
        for role, rows, dense_rows in (("doc", documents, vectors), ("query", queries, query_vectors)):
            expected_sparse, expected_dense = by_hand(folder, text, role)
            np.testing.assert_allclose(rows[i], expected_sparse, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(dense_rows[i], expected_dense, rtol=1e-4, atol=1e-5)
    assert (documents > 0).any() and not np.allclose(documents, queries)


def test_one_model_pass_per_text_feeds_both_sides(llm_models):
    sparse = create_encoder(f"promptreps:{llm_models['mistral']}", doc_prompt="Text: {text}. One word:")
    dense, model = sparse.dense_side(), sparse.shared
    before = model.passes
    sparse.encode_documents(["a wing in a slipstream", "coffee and the heart"])
    dense.encode_documents(["coffee and the heart", "a wing in a slipstream"])  # from the spill file, any order
    assert model.passes == before + 2
    assert model._spill.seek(0, 2) == 0  # every spilled vector was taken: the file starts over
    dense.encode_documents(["a text the sparse side never saw", "coffee and the heart"])  # taken once only
    assert model.passes == before + 4
    dense.encode_queries(["heat transfer"])
    sparse.encode_queries(["heat transfer"])
    assert model.passes == before + 5


def test_settings_are_recorded_and_rebuilt_and_bad_ones_refused(llm_models):
    name = f"promptreps:{llm_models['llama']}"
    sparse = create_encoder(name, query_prompt="Q: {text}", text_tokens_only=False, max_query_length=16)
    spec = sparse.spec
    assert spec.kind == "promptreps" and spec.params["query_prompt"] == "Q: {text}" and spec.max_query_length == 16
    assert encoder_from_spec(spec).spec == spec
    dense_spec = sparse.dense_side().spec
    assert dense_spec.kind == "promptreps-dense" and dense_spec.params["dim"] == 32
    assert isinstance(dense_encoder_from_spec(dense_spec), PromptRepsDense)
    assert isinstance(create_dense_encoder(name), PromptRepsDense)
    assert sparse.encode_queries(["vitamin d"]).getnnz() > 10  # every vocabulary term may weigh, not the text's
    with pytest.raises(Exception, match="must hold \\{text\\}"):
        create_encoder(name, doc_prompt="no placeholder")
    with pytest.raises(Exception, match="promptreps needs a model"):
        create_encoder("promptreps:")


def test_build_writes_both_sides_in_one_pass_and_hybrid_search_encodes_a_query_once(llm_models, tmp_path):
    folder = llm_models["llama"]
    source = write_jsonl(tmp_path / "docs.jsonl")
    model = shared_model(str(folder), create_encoder(f"promptreps:{folder}").settings, False)
    before = model.passes
    lexir("index", "build", source, "--encoder", f"promptreps:{folder}", "--out", tmp_path / "index", "--quiet")
    assert model.passes == before + len(DOCUMENTS)
    assert has_dense(tmp_path / "index") and read_dense_manifest(tmp_path / "index").encoder.kind == "promptreps-dense"
    before = model.passes
    hybrid = lexir("search", tmp_path / "index", "vitamin D and calcium", "--mode", "hybrid", "--json").json()
    assert hybrid["hits"] and model.passes == before + 1
    judged = {"q1": ("does vitamin d prevent fractures", {"d8": 2}), "q2": ("coffee blood pressure", {"d6": 1})}
    before = model.passes
    result = evaluate(load_dataset(str(write_beir_folder(tmp_path / "beir", {"test": judged}))),
                      index=tmp_path / "index", options=SearchOptions(mode="hybrid"), progress=False)
    assert set(result.run) == {"q1", "q2"} and model.passes == before + 2  # timed and batched passes: cached
    explained = lexir("search", tmp_path / "index", "vitamin D and calcium", "--explain", "--json").json()["hits"]
    vocabulary = set(create_encoder(f"promptreps:{folder}").vocabulary)
    assert explained and all(set(hit["contributions"]) <= vocabulary for hit in explained)


def test_prompt_options_reach_the_index_from_the_cli(llm_models, tmp_path):
    folder = llm_models["mistral"]
    source = write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS[:3])
    lexir("index", "build", source, "--encoder", f"promptreps:{folder}", "--out", tmp_path / "index", "--quiet",
          "--encoder-option", "doc_prompt=Document: {text}. Its word:")
    assert InvertedIndex(tmp_path / "index").manifest.encoder.params["doc_prompt"] == "Document: {text}. Its word:"
    result = lexir("index", "build", source, "--encoder", f"promptreps:{folder}", "--out", tmp_path / "bad",
                   "--encoder-option", "doc_prompt=nothing", check=False)
    assert_one_line_error(result, "doc_prompt must hold {text}")
    assert isinstance(create_encoder(f"promptreps:{folder}"), PromptRepsEncoder)
