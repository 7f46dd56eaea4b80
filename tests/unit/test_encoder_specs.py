"""Encoders own their spec: from_spec round trips, the options each class takes, the registry table, loaded models,
and the one SPLADE pooling function that inference and training share."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from lexir.encoders import REGISTRY, create_encoder, encoder_from_spec
from lexir.encoders.base import EncoderSpec
from lexir.encoders.bm25 import BM25Encoder
from lexir.encoders.dense import DenseEncoder
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.encoders.registry import SPARSE_ENCODERS, create_dense_encoder, dense_encoder_from_spec
from lexir.encoders.splade import SpladeEncoder, max_logits
from lexir.errors import LexirError
from tests.texts import DOCUMENTS

TEXTS = [f"{title} {text}" for _, title, text in DOCUMENTS]


@pytest.mark.parametrize("settings", [
    {}, {"activation": "log1p_log1p_relu", "doc_top_k": 50, "query_top_k": 10, "max_doc_length": 128,
         "max_query_length": 16, "precision": "bf16"}])
def test_splade_and_inference_free_specs_round_trip(splade_tiny, settings):
    splade = SpladeEncoder("splade-tiny", name="splade-tiny", **settings)
    rebuilt = SpladeEncoder.from_spec(splade.spec, threads=1, batch_size=4)
    assert rebuilt.spec == splade.spec and (rebuilt.threads, rebuilt.batch_size) == (1, 4)
    document_settings = {key: value for key, value in settings.items() if key != "query_top_k"}  # queries: not SPLADE
    inference_free = InferenceFreeEncoder("splade-tiny", name="mine-if", **document_settings)
    rebuilt = InferenceFreeEncoder.from_spec(inference_free.spec, idf="vectors", max_query_terms=3)
    assert rebuilt.spec == inference_free.spec and (rebuilt.idf_option, rebuilt.max_query_terms) == ("vectors", 3)
    assert encoder_from_spec(inference_free.spec).spec == inference_free.spec


def test_bm25_and_dense_specs_round_trip(minilm):
    bm25 = BM25Encoder(name="bm25", k1=1.2, b=0.75)
    bm25.fit(TEXTS)
    rebuilt = BM25Encoder.from_spec(bm25.spec)
    assert not rebuilt.is_fitted and (rebuilt.k1, rebuilt.b) == (1.2, 0.75)
    rebuilt.fit(TEXTS)
    assert rebuilt.spec == bm25.spec
    dense = DenseEncoder("minilm", max_length=128)
    assert DenseEncoder.from_spec(dense.spec, batch_size=2).spec == dense.spec
    assert dense_encoder_from_spec(dense.spec).spec == dense.spec


def test_each_class_refuses_options_it_does_not_take(splade_tiny):
    spec = splade_tiny.spec
    with pytest.raises(LexirError, match="encoder 'splade-tiny' does not take idf; it takes: batch_size, threads"):
        SpladeEncoder.from_spec(spec, idf="text")
    with pytest.raises(LexirError, match="does not take query_top_k"):
        InferenceFreeEncoder.from_spec(create_encoder("splade-tiny-if").spec, query_top_k=5)
    bm25 = BM25Encoder()
    bm25.fit(TEXTS)
    with pytest.raises(LexirError, match="encoder 'bm25' does not take threads; it takes: no options"):
        encoder_from_spec(bm25.spec, threads=2)
    with pytest.raises(LexirError, match="does not take batch_size; it takes: k1, b"):
        create_encoder("bm25", batch_size=8)
    with pytest.raises(LexirError, match="does not take query_top_k"):
        create_encoder("splade-tiny-if", query_top_k=5)
    with pytest.raises(LexirError, match="does not take idf"):
        create_dense_encoder("minilm", idf="text")
    with pytest.raises(LexirError, match="does not take max_length"):
        dense_encoder_from_spec(_dense_spec(), max_length=12)


def _dense_spec() -> EncoderSpec:
    return EncoderSpec("minilm", "dense", "minilm", 256, 256, "sha256:x:1", {})


def test_the_registry_is_a_table_of_classes():
    for entry in REGISTRY.values():
        assert entry.encoder_class in (*SPARSE_ENCODERS.values(), DenseEncoder)
        assert entry.kind == entry.encoder_class.kind
        unknown = set(entry.settings) - set(entry.encoder_class.SETTINGS + entry.encoder_class.RUNTIME_OPTIONS)
        assert not unknown, entry.name
    assert REGISTRY["splade-tiny-if"].settings == {"idf": "text"}
    assert create_encoder("splade-tiny-if").idf_source == "text"
    # a registered name brings its runtime settings to an index's encoder, nothing is loaded to rebuild it
    gte = REGISTRY["opensearch-doc-v3-gte"]
    spec = EncoderSpec(gte.name, "inference-free", gte.model, 256, 64, "sha256:x:1", {"activation": "log1p_log1p_relu"})
    rebuilt = encoder_from_spec(spec)
    assert isinstance(rebuilt, InferenceFreeEncoder) and rebuilt.documents.trust_remote_code
    assert rebuilt.documents.activation == "log1p_log1p_relu" and "model" not in vars(rebuilt.documents)
    with pytest.raises(LexirError, match="kind 'dense', which this lexir does not know"):
        encoder_from_spec(_dense_spec())
    with pytest.raises(LexirError, match="is a dense encoder"):
        create_encoder("minilm")
    with pytest.raises(LexirError, match="not a dense one"):
        create_dense_encoder("splade-tiny")


def test_a_loaded_model_is_used_and_never_pickled(splade_tiny):
    encoder = SpladeEncoder("splade-tiny", loaded_model=splade_tiny.model)
    assert encoder.model is splade_tiny.model
    np.testing.assert_array_equal(encoder.encode_queries(TEXTS[:2]).toarray(),
                                  splade_tiny.encode_queries(TEXTS[:2]).toarray())
    state = vars(pickle.loads(pickle.dumps(encoder)))
    assert "model" not in state and state["_loaded_model"] is None  # weights are never pickled


def test_training_pools_with_the_inference_function_and_its_gradients_match_the_padded_path(splade_tiny):
    """One pooling function: the cache-blocked max (CPU) and the masked padded max give the same weights and
    the same gradients, and the student's documents equal the index encoder's."""
    import torch

    from lexir.encoders.hf import load_tokenizer
    from lexir.encoders.splade import split_mlm_head
    from lexir.train.student import InferenceFreeStudent

    model = copy.deepcopy(splade_tiny.model)
    head = split_mlm_head(model)
    batch = load_tokenizer(splade_tiny.model_folder)(TEXTS[:6], truncation=True, max_length=48, padding=True,
                                                     return_tensors="pt")
    gradients = []
    for split in (head, None):
        model.zero_grad()
        pooled = max_logits(model, batch, split)
        torch.log1p(torch.relu(pooled)).sum().backward()
        gradients.append((pooled.detach(), model.get_output_embeddings().weight.grad.clone(),
                          model.cls.predictions.transform.dense.weight.grad.clone()))
    for blocked, padded in zip(*gradients):
        torch.testing.assert_close(blocked, padded, rtol=1e-4, atol=1e-5)

    student = InferenceFreeStudent(splade_tiny.model_folder, np.ones(len(splade_tiny.vocabulary), np.float32))
    student.eval()
    with torch.no_grad():
        trained_path = student.document_weights(TEXTS, max_length=256).numpy()
    np.testing.assert_allclose(trained_path, splade_tiny.encode_documents(TEXTS).toarray(), rtol=1e-5, atol=2e-5)
