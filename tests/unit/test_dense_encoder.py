"""DenseEncoder against a computation by hand, and reading pooling settings from a checkpoint's files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lexir.corpus import Document
from lexir.encoders import create_encoder
from lexir.encoders.registry import create_dense_encoder
from lexir.encoders.sentence_config import read_sentence_config
from lexir.errors import LexirError
from tests.texts import DOCUMENTS, QUERIES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_matches_mean_pooling_and_normalization_by_hand(minilm):
    """Batched, length-sorted encoding equals one text at a time through AutoModel, pooled and scaled by hand."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = [Document(*doc).contents for doc in DOCUMENTS] + QUERIES
    folder = minilm.config.model_folder
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    expected = []
    with torch.inference_mode():
        for text in texts:
            inputs = tokenizer(text, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**inputs).last_hidden_state[0]
            mean = hidden.sum(dim=0) / hidden.shape[0]
            expected.append((mean / mean.norm()).numpy())
    vectors = minilm.encode_documents(texts)
    assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.stack(expected), atol=2e-5)
    np.testing.assert_allclose(minilm.encode_queries(QUERIES[:2]), vectors[len(DOCUMENTS):][:2], atol=1e-6)
    assert minilm.encode_documents([]).shape == (0, 384)


def test_one_query_is_encoded_exactly_as_before(minilm):
    """One text skips sorting and padding, and the model runs without BERT's pooler: the vector is bit for bit
    what a padded batch of one through the full AutoModel (pooler included) gives."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = minilm.config.model_folder
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    assert model.pooler is not None and minilm.model.pooler is None
    for text in QUERIES:
        batch = tokenizer.pad({"input_ids": tokenizer([text], truncation=True, max_length=256)["input_ids"]},
                              return_tensors="pt")
        with torch.inference_mode():
            mean = model(**batch).last_hidden_state.mean(dim=1)
            expected = torch.nn.functional.normalize(mean, p=2, dim=1).numpy()
        assert np.array_equal(minilm.encode_queries([text]), expected)


def test_spec_records_what_changes_vectors(minilm):
    spec = minilm.spec
    assert (spec.name, spec.kind, spec.model, spec.max_doc_length) == ("minilm", "dense", "minilm", 256)
    assert spec.params == {"dim": 384, "pooling": "mean", "normalize": True, "lowercase": False}
    assert spec.vocab_fingerprint.endswith(":30522")
    assert create_dense_encoder("minilm", max_length=64).spec.differences(spec) == ["max_doc_length",
                                                                                   "max_query_length"]


def write_checkpoint(folder, modules=None, pooling=None, settings=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"hidden_size": 8, "max_position_embeddings": 1024}))
    if modules is not None:
        (folder / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    if settings is not None:
        (folder / "sentence_bert_config.json").write_text(json.dumps(settings))
    return str(folder)


def module(name, path=""):
    return {"idx": 0, "name": name, "path": path, "type": f"sentence_transformers.models.{name}"}


def test_sentence_config_reading(tmp_path):
    plain = read_sentence_config(write_checkpoint(tmp_path / "plain"))
    assert (plain.pooling, plain.normalize, plain.max_length, plain.dim) == ("mean", False, 512, 8)
    cls = read_sentence_config(write_checkpoint(
        tmp_path / "cls", [module("Transformer"), module("Pooling", "1_Pooling")],
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, {"max_seq_length": 128,
                                                                             "do_lower_case": True}))
    assert (cls.pooling, cls.normalize, cls.max_length, cls.lowercase) == ("cls", False, 128, True)
    named = read_sentence_config(write_checkpoint(
        tmp_path / "named", [module("Transformer"), module("Pooling", "1_Pooling"), module("Normalize", "2_N")],
        {"pooling_mode": "lasttoken"}))
    assert (named.pooling, named.normalize) == ("lasttoken", True)


@pytest.mark.parametrize(
    ("modules", "pooling", "fragment"),
    [
        ([module("Transformer"), module("Dense", "2_Dense")], None, "Dense"),
        ([module("Transformer"), module("Pooling", "1_Pooling")],
         {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True}, "exactly one"),
        ([module("Transformer"), module("Pooling", "1_Pooling")], {"pooling_mode_weightedmean_tokens": True},
         "exactly one"),
    ],
)
def test_unsupported_checkpoints_are_refused(tmp_path, modules, pooling, fragment):
    with pytest.raises(LexirError, match=fragment):
        read_sentence_config(write_checkpoint(tmp_path / "model", modules, pooling))


def test_registry_keeps_dense_and_sparse_names_apart():
    with pytest.raises(LexirError, match="is a dense encoder"):
        create_encoder("minilm")
    with pytest.raises(LexirError, match="not a dense one"):
        create_dense_encoder("splade-tiny")
    with pytest.raises(LexirError, match="does not take"):
        create_dense_encoder("minilm", activation="relu")
