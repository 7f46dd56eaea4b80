"""Inference-free encoding: model-free queries, IDF tables, query options and query-time weighting."""

from __future__ import annotations

import json
import math
import shutil
import string
import subprocess
import sys

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.encoders import REGISTRY, create_encoder
from lexir.encoders.hf import load_fast_tokenizer
from lexir.encoders.idf import corpus_idf, load_idf_json
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.encoders.query_tokens import QueryTokenizer
from lexir.errors import LexirError
from lexir.index import InvertedIndex, build_index
from lexir.search import SearchOptions, open_search
from tests.conftest import SHARED, skip_or_fail
from tests.helpers import write_jsonl
from tests.texts import QUERIES

MSMARCO_IDF = SHARED / "data" / "idf" / "opensearch-msmarco-idf.json"


def sparse_side(index, query_weighting: str = "model", encoder=None, **query_options):
    """The index's sparse retriever, encoding queries as searches do (live statistics, query options)."""
    options = SearchOptions(query_weighting=query_weighting, query_options=query_options)
    return open_search(index, options, encoder=encoder).retrievers["sparse"]


def encode(index, texts, **query_options):
    return sparse_side(index, **query_options).encode(texts).vectors


@pytest.fixture(scope="module")
def if_index(tmp_path_factory, splade_tiny):
    folder = tmp_path_factory.mktemp("if")
    encoder = InferenceFreeEncoder("splade-tiny", name="splade-tiny-if", idf="text",
                                   loaded_model=splade_tiny.model)  # the loaded weights for the document side
    assert encoder.spec == create_encoder("splade-tiny-if").spec
    corpus = Corpus(str(write_jsonl(folder / "docs.jsonl")))
    build_index(corpus, encoder, folder / "index", progress=False)
    return folder / "index", corpus, encoder


def test_searching_loads_no_model_and_imports_no_torch(if_index):
    index, _, _ = if_index
    script = (
        "import json, sys\n"
        "from lexir.search import open_search\n"
        f"searcher = open_search({str(index)!r})\n"
        f"results = searcher.search_batch({QUERIES!r}, k=3)\n"
        "encoder = searcher.retrievers['sparse'].encoder\n"
        "print(json.dumps({'hits': [len(r.hits) for r in results], 'torch': 'torch' in sys.modules,\n"
        "                  'transformers': 'transformers' in sys.modules,\n"
        "                  'model_loaded': 'model' in vars(encoder.documents)}))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert output.returncode == 0, output.stderr
    report = json.loads(output.stdout)
    assert sum(report["hits"]) > 0
    assert report == {**report, "torch": False, "transformers": False, "model_loaded": False}


def test_vector_idf_by_hand_and_from_the_index(if_index):
    # N = 4 documents; df = 1, 2, 4: idf = log(1 + (N - df + 0.5) / (df + 0.5))
    expected = [math.log(1 + 3.5 / 1.5), math.log(1 + 2.5 / 2.5), math.log(1 + 0.5 / 4.5)]
    np.testing.assert_allclose(corpus_idf(np.array([1, 2, 4]), 4), expected, rtol=1e-6)
    index, corpus, encoder = if_index
    vectors = encoder.encode_documents([doc.contents for doc in corpus])
    document_frequency = np.bincount(vectors.indices, minlength=vectors.shape[1])
    np.testing.assert_array_equal(InvertedIndex(index).doc_freq, document_frequency)
    for option in ("vectors", "corpus"):  # "corpus": the older name
        retriever = sparse_side(index, idf=option)
        assert retriever.encoder.idf_source == "vectors"
        np.testing.assert_allclose(retriever.encoder.idf, corpus_idf(document_frequency, len(corpus)), rtol=1e-6)


def test_query_is_tokens_weighted_by_idf(if_index):
    index, _, _ = if_index
    retriever = sparse_side(index, query_tf="count")
    vocabulary = retriever.encoder.vocabulary
    vector = retriever.encode(["[CLS] Vitamin vitamin D"]).vectors
    terms = {vocabulary[t]: w for t, w in zip(vector.indices, vector.data)}
    opened = InvertedIndex(index)
    idf = corpus_idf(opened.text_doc_freq, opened.num_docs)  # the default: the index's text IDF
    ids = {token: vocabulary.index(token) for token in ("vitamin", "d")}
    assert terms == pytest.approx({"vitamin": 2 * idf[ids["vitamin"]], "d": idf[ids["d"]]})
    binary = encode(index, ["vitamin vitamin d"])
    assert sorted(binary.data) == pytest.approx(sorted([idf[ids["vitamin"]], idf[ids["d"]]]))


def test_query_options_prune_terms(if_index):
    index, _, _ = if_index
    text = "the effect of vitamin d on the bones of older adults"
    full = encode(index, [text])
    no_stopwords = encode(index, [text], drop_stopwords=True)
    capped = encode(index, [text], max_query_terms=3)
    threshold = float(np.median(full.data))
    high_idf = encode(index, [text], min_idf=threshold)
    vocabulary = sparse_side(index).encoder.vocabulary
    assert {"the", "of", "on"} <= {vocabulary[t] for t in full.indices}
    assert not {"the", "of", "on"} & {vocabulary[t] for t in no_stopwords.indices}
    assert capped.nnz == 3 and sorted(capped.data) == sorted(np.sort(full.data)[-3:])
    assert high_idf.data.min() >= threshold and high_idf.nnz < full.nnz
    with pytest.raises(LexirError, match="query_tf"):
        encode(index, [text], query_tf="log")
    with pytest.raises(LexirError, match="does not take"):
        encode(index, [text], no_such_option=1)


def test_msmarco_idf_json_is_loaded_for_queries(if_index):
    if not MSMARCO_IDF.is_file():
        skip_or_fail(f"{MSMARCO_IDF} is absent")
    index, _, _ = if_index
    table = json.loads(MSMARCO_IDF.read_text())
    searcher = sparse_side(index, idf=str(MSMARCO_IDF))
    vocabulary = searcher.encoder.vocabulary
    vector = searcher.encode(["vitamin deficiency"]).vectors
    assert {vocabulary[t]: w for t, w in zip(vector.indices, vector.data)} == pytest.approx(
        {"vitamin": table["vitamin"], "deficiency": table["deficiency"]})
    assert searcher.encoder.idf_source == str(MSMARCO_IDF.resolve())


def test_text_idf_counts_the_tokens_of_the_texts_and_is_used_for_queries(if_index, tmp_path, splade_tiny):
    index, corpus, _ = if_index
    out = tmp_path / "idf" / "text-idf.json"
    result = subprocess.run([sys.executable, "-m", "lexir", "index", "idf", str(corpus.source), "--out", str(out),
                             "--quiet"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    table = json.loads(out.read_text())
    tokenizer = load_fast_tokenizer(splade_tiny.model_folder)
    texts = [doc.contents for doc in corpus]
    token_sets = [set(tokenizer.encode(text).tokens) for text in texts]
    for token in ("vitamin", "the", "zebra"):  # by hand: df over the texts' own tokens, expansions not counted
        df = sum(token in tokens for tokens in token_sets)
        assert table[token] == pytest.approx(float(corpus_idf(np.array([df]), len(texts))[0]), abs=1e-6)
    assert "[CLS]" not in table and len(table) == len(tokenizer.get_vocab()) - 5
    vector = encode(index, ["vitamin"], idf=str(out))
    assert vector.data.tolist() == pytest.approx([table["vitamin"]])
    refused = subprocess.run([sys.executable, "-m", "lexir", "index", "idf", str(corpus.source), "--out",
                              str(tmp_path / "bm25.json"), "--encoder", "bm25"], capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1 and "has no model tokenizer" in refused.stderr and "Traceback" not in refused.stderr


def test_bad_idf_files_are_clear_errors(tmp_path, splade_tiny):
    vocabulary = splade_tiny.vocabulary
    with pytest.raises(LexirError, match="does not exist"):
        load_idf_json(tmp_path / "missing.json", vocabulary)
    (tmp_path / "bad.json").write_text('{"vitamin": 2.0,')
    with pytest.raises(LexirError, match="not valid JSON"):
        load_idf_json(tmp_path / "bad.json", vocabulary)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(LexirError, match="JSON object"):
        load_idf_json(tmp_path / "list.json", vocabulary)
    (tmp_path / "negative.json").write_text('{"vitamin": -1}')
    with pytest.raises(LexirError, match="non-negative"):
        load_idf_json(tmp_path / "negative.json", vocabulary)
    (tmp_path / "other-vocab.json").write_text('{"vitamin": 2.0, "ĠVitamin": 3.0, "▁the": 1.0}')
    with pytest.raises(LexirError, match="does not match the tokenizer's vocabulary: 2 of its 3"):
        load_idf_json(tmp_path / "other-vocab.json", vocabulary)


def test_query_weighting_on_a_siamese_index(tmp_path, splade_tiny):
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), splade_tiny, tmp_path / "index", progress=False)
    index = tmp_path / "index"
    model = sparse_side(index, encoder=splade_tiny).encode(QUERIES[:2]).vectors
    idf_only = sparse_side(index, "idf", encoder=splade_tiny).encode(QUERIES[:2]).vectors
    product = sparse_side(index, "model-idf", encoder=splade_tiny).encode(QUERIES[:2]).vectors
    idf = InvertedIndex(index).idf
    np.testing.assert_allclose(idf_only.data, idf[model.indices], rtol=1e-6)
    np.testing.assert_allclose(product.data, model.data * idf[model.indices], rtol=1e-5)
    with pytest.raises(LexirError, match="query weighting"):
        SearchOptions(query_weighting="bm25")


def test_registry_names_for_hub_inference_free_models():
    v3 = REGISTRY["opensearch-doc-v3-distill"]
    assert v3.kind == "inference-free" and v3.settings["activation"] == "log1p_log1p_relu"
    assert v3.model == "opensearch-project/opensearch-neural-sparse-encoding-doc-v3-distill"
    assert REGISTRY["opensearch-doc-v2-distill"].settings.get("activation", "log1p_relu") == "log1p_relu"
    encoder = create_encoder("opensearch-doc-v2-distill")
    assert encoder.idf_option == "auto" and encoder.documents.model_ref.endswith("doc-v2-distill")


def test_a_local_model_folder_with_idf_json_uses_it(tmp_path, splade_tiny):
    """The code path of the hub models: a folder holding the model files and its own idf.json."""
    folder = tmp_path / "model"
    shutil.copytree(splade_tiny.model_folder, folder)
    (folder / "idf.json").write_text(json.dumps({"vitamin": 7.0, "d": 0.5}))
    encoder = create_encoder(str(folder))
    inference_free = InferenceFreeEncoder(str(folder))
    assert inference_free.idf_source == str(folder / "idf.json")
    vector = inference_free.encode_queries(["vitamin d deficiency"])
    assert {inference_free.vocabulary[t]: w for t, w in zip(vector.indices, vector.data)} == {"vitamin": 7.0,
                                                                                             "d": 0.5}
    assert encoder.spec.vocab_fingerprint == inference_free.spec.vocab_fingerprint


QUERY_TEXTS = QUERIES + [
    "Café déjà-vu: naïve résumé!!", "x\ty\u00a0z", "中文 查询 test", "  lead and trail  ", "e.g. U.S.A. 3.5%",
    "don't stop—ever…", "Do Cholesterol Statin Drugs Cause Breast Cancer?", "vitamin D (25-OH) levels",
    "a movie\x85an example", "form\x0bfeed\x0c and\x1fseparators", "[CLS]query[SEP]",
]


def test_cached_query_tokenizer_equals_the_tokenizer(splade_tiny):
    tokenizer = load_fast_tokenizer(splade_tiny.model_folder)
    cached = QueryTokenizer(tokenizer)
    assert cached.cached  # BERT WordPiece: the per-word cache is used
    for _ in range(2):  # cold, then every word cached
        for text in QUERY_TEXTS:
            assert cached(text) == tokenizer.encode(text, add_special_tokens=False).ids, text
    assert "vitamin" in cached._words


def random_ascii_words(tokenizer, count: int, seed: int = 7) -> list[str]:
    """Words that exercise every WordPiece branch: whole entries, subwords, unknowns, punctuation, case."""
    rng = np.random.default_rng(seed)
    entries = [token.removeprefix("##") for token in tokenizer.get_vocab()]
    alphabet = list(string.ascii_letters + string.digits + string.punctuation)
    words = []
    for _ in range(count):
        kind = rng.integers(5)
        if kind == 0:
            word = "".join(rng.choice(entries, size=rng.integers(1, 4)))  # glued entries: subwords
        elif kind == 1:
            word = "".join(rng.choice(alphabet, size=rng.integers(1, 12)))  # noise: unknowns, punctuation
        elif kind == 2:
            word = str(rng.choice(entries)).upper() + str(rng.choice(list("?.,!:;")))
        elif kind == 3:
            word = "a" * int(rng.integers(95, 106))  # around the 100-character limit
        else:
            word = str(rng.choice(entries)) + "\u00e9"  # not ASCII: the tokenizer decides
        words.append(word)
    return words


def test_ascii_wordpiece_equals_the_tokenizer(splade_tiny):
    tokenizer = load_fast_tokenizer(splade_tiny.model_folder)
    words = random_ascii_words(tokenizer, 3000)
    texts = [" ".join(words[i : i + 5]) for i in range(0, len(words), 5)]
    cached = QueryTokenizer(tokenizer)
    for text in texts:
        assert cached(text) == tokenizer.encode(text, add_special_tokens=False).ids, text
    learnt_without_tokenizer = [word for word in words if cached._ascii_words.ids(word) is not None]
    assert len(learnt_without_tokenizer) > 0.7 * len(words)  # the fast path is what ran


def test_words_holding_added_tokens_go_to_the_tokenizer(splade_tiny):
    tokenizer = load_fast_tokenizer(splade_tiny.model_folder)
    tokenizer.add_tokens(["lexir"])  # added tokens match inside words: "lexirs" is "lexir" + "s"
    cached = QueryTokenizer(tokenizer)
    assert cached._ascii_words.ids("lexirs") is None and cached._ascii_words.ids("x[SEP]") is None
    for text in ["lexirs index", "a lexir", "unlexired words", "[CLS]query[SEP] [MASK]"]:
        assert cached(text) == tokenizer.encode(text, add_special_tokens=False).ids, text
