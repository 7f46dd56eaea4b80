"""`lexir train --student minilm`: MiniLM's encoder with an MLM head tied to its word embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from lexir.encoders import create_encoder
from lexir.errors import LexirError
from lexir.train.init import minilm_masked_lm, student_base_model


def test_minilm_student_is_a_tied_masked_lm_whose_words_come_first(tmp_path):
    from lexir.encoders.hf import load_masked_lm

    folder = minilm_masked_lm(tmp_path / "minilm-mlm")
    model = load_masked_lm(str(folder))
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    encoder = create_encoder(str(folder))  # a SPLADE encoder over the bert-base-uncased vocabulary
    vector = encoder.encode_documents(["heart disease"])
    best = {encoder.vocabulary[term] for term in vector.indices[np.argsort(-vector.data)[:6]]}
    assert {"heart", "disease"} <= best  # the identity transform: a text's own words score high before training
    assert minilm_masked_lm(tmp_path / "minilm-mlm") == folder  # made once


def test_student_choice_is_checked(tmp_path):
    assert student_base_model("splade-tiny", "splade-tiny", "splade-tiny", tmp_path) == "splade-tiny"
    with pytest.raises(LexirError, match="unknown --student"):
        student_base_model("bert-large", "splade-tiny", "splade-tiny", tmp_path)
    with pytest.raises(LexirError, match="not both"):
        student_base_model("minilm", "some/folder", "splade-tiny", tmp_path)


def test_train_cli_takes_the_student_option(tmp_path):
    from tests.helpers import lexir

    refused = lexir("train", tmp_path / "run", "--student", "bert-large", "--cache", tmp_path / "cache", check=False)
    assert refused.code != 0 and "unknown --student 'bert-large'" in refused.stderr
    mixed = lexir("train", tmp_path / "run", "--student", "minilm", "--base-model", "some/folder", check=False)
    assert mixed.code != 0 and "not both" in mixed.stderr
