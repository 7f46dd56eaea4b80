"""SPLADE encoder: its output equals the straightforward reference computation on real text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lexir.encoders import SpladeEncoder
from lexir.errors import LexirError
from tests.texts import DOCUMENTS, QUERIES


def reference_splade(encoder: SpladeEncoder, texts: list[str], max_length: int, activation: str) -> np.ndarray:
    """The textbook SPLADE: full MLM logits over the padded batch, log(1+relu), mask padding, max over tokens."""
    batch = encoder.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        logits = encoder.model(**batch).logits
    weights = torch.log1p(torch.relu(logits))
    if activation == "log1p_log1p_relu":
        weights = torch.log1p(weights)
    return (weights * batch["attention_mask"].unsqueeze(-1)).max(dim=1).values.numpy()


def test_documents_equal_reference(splade_tiny):
    texts = [f"{title} {text}" for _, title, text in DOCUMENTS]
    ours = splade_tiny.encode_documents(texts).toarray()
    expected = reference_splade(splade_tiny, texts, 256, "log1p_relu")
    assert ours.shape == (len(texts), 30522)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=2e-5)
    assert ((ours > 0) == (expected > 1e-5)).mean() > 0.9999


def test_queries_equal_reference_and_truncate(splade_tiny):
    long_query = " ".join(QUERIES * 10)
    texts = QUERIES + [long_query]
    ours = splade_tiny.encode_queries(texts).toarray()
    np.testing.assert_allclose(ours, reference_splade(splade_tiny, texts, 64, "log1p_relu"), rtol=1e-5, atol=2e-5)


def test_v3_activation_equals_reference(splade_tiny):
    encoder = SpladeEncoder(splade_tiny.model_ref, activation="log1p_log1p_relu", batch_size=4,
                            loaded_model=splade_tiny.model)
    ours = encoder.encode_queries(QUERIES).toarray()
    np.testing.assert_allclose(ours, reference_splade(splade_tiny, QUERIES, 64, "log1p_log1p_relu"), rtol=1e-5,
                               atol=2e-5)


def test_top_k_pruning_keeps_the_largest_weights(splade_tiny):
    pruned = SpladeEncoder(splade_tiny.model_ref, doc_top_k=20, loaded_model=splade_tiny.model)
    texts = [text for _, _, text in DOCUMENTS[:4]]
    full = splade_tiny.encode_documents(texts).toarray()
    kept = pruned.encode_documents(texts).toarray()
    for row_full, row_kept in zip(full, kept):
        assert (row_kept > 0).sum() == 20
        assert row_kept[row_kept > 0].min() >= np.sort(row_full)[-20] - 1e-7
    assert pruned.spec != splade_tiny.spec


def test_empty_batch_and_bad_settings(splade_tiny):
    assert splade_tiny.encode_queries([]).shape == (0, 30522)
    with pytest.raises(LexirError, match="activation"):
        SpladeEncoder("x", activation="softmax")
    with pytest.raises(LexirError, match="batch_size"):
        SpladeEncoder("x", batch_size=0)


def test_missing_local_model_is_a_clear_error(tmp_path):
    encoder = SpladeEncoder(str(tmp_path / "no-such-model"))
    with pytest.raises(LexirError, match="folder"):
        encoder.spec


def test_unsplittable_heads_fall_back_to_full_logits(splade_tiny):
    fallback = SpladeEncoder(splade_tiny.model_ref, batch_size=4, loaded_model=splade_tiny.model)
    fallback.__dict__["_split_head"] = None  # as for a model whose head is not one module ending in a Linear
    texts = [text for _, _, text in DOCUMENTS[:5]]
    np.testing.assert_allclose(fallback.encode_documents(texts).toarray(),
                               reference_splade(splade_tiny, texts, 256, "log1p_relu"), rtol=1e-5, atol=2e-5)


def test_bf16_is_opt_in_close_and_recorded_in_the_spec(splade_tiny):
    bf16 = SpladeEncoder(splade_tiny.model_ref, precision="bf16", loaded_model=splade_tiny.model)
    texts = [f"{title} {text}" for _, title, text in DOCUMENTS]
    exact = splade_tiny.encode_documents(texts).toarray()
    approximate = bf16.encode_documents(texts).toarray()
    assert np.abs(exact - approximate).max() < 0.15 and not np.array_equal(exact, approximate)
    assert ((exact > 0) != (approximate > 0)).mean() < 0.001
    assert bf16.spec.params["precision"] == "bf16" and "precision" not in splade_tiny.spec.params
    with pytest.raises(LexirError, match="precision"):
        SpladeEncoder("x", precision="int8")


def test_token_blocks_group_whole_texts_within_the_budget():
    from lexir.encoders.splade import _token_blocks

    # texts of 100, 100, 300, 50, 50, 50 tokens with a 256-token budget
    assert _token_blocks([100, 100, 300, 50, 50, 50], 256) == [
        (0, 2, 0, 200), (2, 3, 200, 500), (3, 6, 500, 650)]
    assert _token_blocks([], 256) == []


def test_equal_length_runs_cover_every_text_once():
    from lexir.encoders.splade import _equal_length_runs

    # (first text, texts, length, first token row) of lengths 5, 5, 5, 3, 2, 2
    assert _equal_length_runs([5, 5, 5, 3, 2, 2]) == [(0, 3, 5, 0), (3, 1, 3, 15), (4, 2, 2, 18)]
    assert _equal_length_runs([7]) == [(0, 1, 7, 0)]
    assert _equal_length_runs([]) == []


def test_long_and_short_texts_in_one_batch_equal_reference(splade_tiny):
    """Blocks of several short texts and blocks of one long text, in the same batch."""
    texts = [" ".join(QUERIES * 6), *QUERIES, f"{DOCUMENTS[0][1]} {DOCUMENTS[0][2]}" * 3]
    ours = splade_tiny.encode_documents(texts).toarray()
    np.testing.assert_allclose(ours, reference_splade(splade_tiny, texts, 256, "log1p_relu"), rtol=1e-5, atol=2e-5)
